package jetstream

import (
	"strings"

	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/subject"
)

// checkFeeds validates a stream's mirror and sources as nats-server's
// checkStreamCfg does, with the codes it answers. subjects are the
// subjects the request listed (a mirror may have none). Mirrors and
// sources read their origin inside this barge server or cluster: an
// `external` origin (another domain's API prefix) is refused as invalid
// config (10052).
func checkFeeds(cfg *jsapi.StreamConfig, subjects []string) *jsapi.APIError {
	if m := cfg.Mirror; m != nil {
		switch {
		case cfg.FirstSeq > 0:
			return jsapi.NewAPIError(jsapi.ErrCodeMirrorWithFirstSeq)
		case len(subjects) > 0:
			return jsapi.NewAPIError(jsapi.ErrCodeMirrorWithSubjects)
		case len(cfg.Sources) > 0:
			return jsapi.NewAPIError(jsapi.ErrCodeMirrorWithSources)
		case m.OptStartSeq > 0 && m.OptStartTime != nil:
			return jsapi.NewAPIError(jsapi.ErrCodeMirrorWithStartSeqAndTime)
		case m.FilterSubject != "" && len(m.SubjectTransforms) > 0:
			return jsapi.NewAPIError(jsapi.ErrCodeMirrorMultipleFiltersNotAllowed)
		case m.Consumer != nil && !durableSourceValid(m):
			return jsapi.NewAPIError(jsapi.ErrCodeMirrorDurableConsumerCfgInvalid)
		}
		if apiErr := checkFeedScope(m); apiErr != nil {
			return apiErr
		}
		for i, tr := range m.SubjectTransforms {
			if tr.Source != "" && !subject.ValidSubscribe([]byte(tr.Source)) {
				return jsapi.NewAPIError(jsapi.ErrCodeMirrorInvalidSubjectFilter, subject.ErrBadSubject.Error()+" "+tr.Source)
			}
			if err := subject.ValidateMapping(tr.Source, tr.Destination); err != nil {
				return jsapi.NewAPIError(jsapi.ErrCodeMirrorInvalidTransformDest, err.Error())
			}
			for j, other := range m.SubjectTransforms {
				if i != j && subject.Overlap(tr.Source, other.Source) {
					return jsapi.NewAPIError(jsapi.ErrCodeMirrorOverlappingSubjectFilters)
				}
			}
		}
		if m.FilterSubject != "" && !subject.ValidSubscribe([]byte(m.FilterSubject)) {
			return jsapi.NewAPIError(jsapi.ErrCodeMirrorInvalidSubjectFilter, subject.ErrBadSubject.Error()+" "+m.FilterSubject)
		}
		if !validName(m.Name) || m.Name == cfg.Name {
			return jsapi.NewAPIError(jsapi.ErrCodeMirrorInvalidStreamName)
		}
	}
	seen := make(map[string]bool, len(cfg.Sources))
	durables := map[string]bool{}
	for _, src := range cfg.Sources {
		if src == nil || !validName(src.Name) || src.Name == cfg.Name {
			return jsapi.NewAPIError(jsapi.ErrCodeSourceInvalidStreamName)
		}
		if id := feedIndexName(src); seen[id] {
			return jsapi.NewAPIError(jsapi.ErrCodeSourceDuplicateDetected)
		} else {
			seen[id] = true
		}
		if src.FilterSubject != "" && len(src.SubjectTransforms) > 0 {
			return jsapi.NewAPIError(jsapi.ErrCodeSourceMultipleFiltersNotAllowed)
		}
		if c := src.Consumer; c != nil {
			if !durableSourceValid(src) {
				return jsapi.NewAPIError(jsapi.ErrCodeSourceDurableConsumerCfgInvalid)
			}
			if id := src.Name + " " + c.Name; durables[id] {
				return jsapi.NewAPIError(jsapi.ErrCodeSourceDurableConsumerDuplicate)
			} else {
				durables[id] = true
			}
		}
		if src.FilterSubject != "" && !subject.ValidSubscribe([]byte(src.FilterSubject)) {
			return jsapi.NewAPIError(jsapi.ErrCodeSourceInvalidSubjectFilter, subject.ErrBadSubject.Error()+" "+src.FilterSubject)
		}
		for _, tr := range src.SubjectTransforms {
			if tr.Source != "" && !subject.ValidSubscribe([]byte(tr.Source)) {
				return jsapi.NewAPIError(jsapi.ErrCodeSourceInvalidSubjectFilter, subject.ErrBadSubject.Error()+" "+tr.Source)
			}
			if err := subject.ValidateMapping(tr.Source, tr.Destination); err != nil {
				return jsapi.NewAPIError(jsapi.ErrCodeSourceInvalidTransformDest, err.Error())
			}
		}
		for i, tr := range src.SubjectTransforms {
			for j, other := range src.SubjectTransforms {
				if i != j && subjectMatchesPattern(orAll(tr.Source), orAll(other.Source)) {
					return jsapi.NewAPIError(jsapi.ErrCodeSourceOverlappingSubjectFilters)
				}
			}
		}
		if apiErr := checkFeedScope(src); apiErr != nil {
			return apiErr
		}
	}
	return nil
}

// checkFeedScope refuses what barge's mirrors and sources do not do.
func checkFeedScope(src *jsapi.StreamSource) *jsapi.APIError {
	if src.External != nil {
		return invalidConfig("external mirrors and sources (another domain's api prefix) are not supported")
	}
	return nil
}

// durableSourceValid checks a mirror's or source's durable consumer as
// nats-server does (10213 for a mirror, 10215 for a source): a valid
// consumer name, a literal deliver subject, and no start position or
// filter of its own (the consumer's decide what is copied).
func durableSourceValid(src *jsapi.StreamSource) bool {
	c := src.Consumer
	return validName(c.Name) && c.DeliverSubject != "" && subject.ValidPublish([]byte(c.DeliverSubject)) &&
		src.OptStartSeq == 0 && src.OptStartTime == nil && src.FilterSubject == ""
}

func orAll(filter string) string {
	if filter == "" {
		return ">"
	}
	return filter
}

// feedIndexName is nats-server's index name of a source: its stream, its
// filters and their destinations ('>' for none; several joined by form
// feeds), separated by spaces. Its fields after the stream name are part
// of the Nats-Stream-Source header of every sourced message.
func feedIndexName(src *jsapi.StreamSource) string {
	from, to := orAll(src.FilterSubject), ">"
	if len(src.SubjectTransforms) > 0 {
		froms := make([]string, len(src.SubjectTransforms))
		tos := make([]string, len(src.SubjectTransforms))
		for i, tr := range src.SubjectTransforms {
			froms[i], tos[i] = orAll(tr.Source), orAll(tr.Destination)
		}
		from, to = strings.Join(froms, "\f"), strings.Join(tos, "\f")
	}
	name := src.Name
	if src.Consumer != nil {
		name += ":C=" + shortHash(src.Consumer.Name)
	}
	return name + " " + from + " " + to
}

// streamConfigOf is the config of stream name as this node knows it: a
// stream of its own or, in a cluster, one placed on other nodes.
func (e *Engine) streamConfigOf(name string) (jsapi.StreamConfig, bool) {
	if st := e.lookup(name); st != nil {
		return st.Config(), true
	}
	if cs := e.cl.Load(); cs != nil {
		if s := cs.nm.snap.Load(); s != nil {
			if rs := s.defs[name]; rs != nil {
				return rs.def.Config, true
			}
		}
	}
	return jsapi.StreamConfig{}, false
}

// checkFeedStreams makes the checks of cfg's mirror and sources that need
// the other streams, as nats-server's checkStreamCfg does: a known origin
// whose max_msg_size is larger than cfg's is refused (10030 for a mirror,
// 10046 for a source), and so is a config that closes a cycle of sources
// and mirrors (10052 "detected cycle"): walking from cfg through the
// origins it knows, a source back to a stream already visited is a cycle
// when its filter can take the subjects of the stream that sources it (no
// filter: always), a mirror back to one always. An origin not known (yet)
// is not checked, as in nats-server.
func (e *Engine) checkFeedStreams(cfg *jsapi.StreamConfig) *jsapi.APIError {
	tooBig := func(name string) bool {
		o, ok := e.streamConfigOf(name)
		return ok && cfg.MaxMsgSize > 0 && o.MaxMsgSize > 0 && cfg.MaxMsgSize < o.MaxMsgSize
	}
	if m := cfg.Mirror; m != nil && m.External == nil && tooBig(m.Name) {
		return jsapi.NewAPIError(jsapi.ErrCodeMirrorMaxMessageSizeTooBig)
	}
	for _, src := range cfg.Sources {
		if src != nil && src.External == nil && tooBig(src.Name) {
			return jsapi.NewAPIError(jsapi.ErrCodeSourceMaxMessageSizeTooBig)
		}
	}
	cycle := invalidConfig("detected cycle")
	visited := map[string]bool{}
	toVisit := []jsapi.StreamConfig{*cfg}
	for len(toVisit) > 0 {
		c := toVisit[0]
		toVisit = toVisit[1:]
		visited[c.Name] = true
		for _, src := range c.Sources {
			if src == nil || src.External != nil {
				continue
			}
			if visited[src.Name] {
				if feedTakes(c.Subjects, src.FilterSubject) {
					return cycle
				}
			} else if o, ok := e.streamConfigOf(src.Name); ok {
				toVisit = append(toVisit, o)
			}
		}
		if m := c.Mirror; m != nil && m.External == nil {
			if visited[m.Name] {
				return cycle
			}
			if o, ok := e.streamConfigOf(m.Name); ok {
				toVisit = append(toVisit, o)
			}
		}
	}
	return nil
}

// feedTakes reports whether a source filter can take one of subjects (an
// empty filter takes all).
func feedTakes(subjects []string, filter string) bool {
	if filter == "" {
		return true
	}
	for _, s := range subjects {
		if subject.Overlap(s, filter) {
			return true
		}
	}
	return false
}
