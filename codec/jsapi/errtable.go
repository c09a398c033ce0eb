package jsapi

// Status returns the HTTP-like status nats-server sends with c, or 500
// for a code this package does not know.
func (c ErrCode) Status() int {
	s, _, _ := c.template()
	return s
}

// Known reports whether c is one of this package's ErrCode constants.
func (c ErrCode) Known() bool {
	_, _, ok := c.template()
	return ok
}

// template returns the status and description template of c, worded as
// nats-server 2.15.2 words them; ok is false for an unknown code.
func (c ErrCode) template() (status int, desc string, ok bool) {
	switch c {
	// General, account and API.
	case ErrCodeAccountResourcesExceeded:
		return 400, "resource limits exceeded for account", true
	case ErrCodeBadRequest:
		return 400, "bad request", true
	case ErrCodeClusterNoPeers:
		return 400, "{err}", true
	case ErrCodeClusterNotActive:
		return 500, "JetStream not in clustered mode", true
	case ErrCodeClusterNotAvail:
		return 503, "JetStream system temporarily unavailable", true
	case ErrCodeClusterNotLeader:
		return 500, "JetStream cluster can not handle request", true
	case ErrCodeClusterRequired:
		return 503, "JetStream clustering support required", true
	case ErrCodeClusterTags:
		return 400, "tags placement not supported for operation", true
	case ErrCodeInsufficientResources:
		return 503, "insufficient resources", true
	case ErrCodeInvalidJSON:
		return 400, "invalid JSON: {err}", true
	case ErrCodeMaximumConsumersLimit:
		return 400, "maximum consumers limit reached", true
	case ErrCodeMaximumStreamsLimit:
		return 400, "maximum number of streams reached", true
	case ErrCodeMemoryResourcesExceeded:
		return 500, "insufficient memory resources available", true
	case ErrCodeNoAccount:
		return 503, "account not found", true
	case ErrCodeClusterUnsupportedFeature:
		return 503, "not currently supported in clustered mode", true
	case ErrCodeNotEmptyRequest:
		return 400, "expected an empty request payload", true
	case ErrCodeNotEnabledForAccount:
		return 503, "JetStream not enabled for account", true
	case ErrCodeRaftGeneral:
		return 500, "{err}", true
	case ErrCodeStorageResourcesExceeded:
		return 500, "insufficient storage resources available", true
	case ErrCodeNotEnabled:
		return 503, "JetStream not enabled", true
	case ErrCodeNoLimits:
		return 400, "no JetStream default or applicable tiered limit present", true
	case ErrCodeReplicasCountNegative:
		return 400, "replicas count cannot be negative", true
	case ErrCodePedantic:
		return 400, "pedantic mode: {err}", true
	case ErrCodeStreamTooManyRequests:
		return 429, "too many requests", true
	case ErrCodeRequiredAPILevel:
		return 412, "JetStream minimum api level required", true
	case ErrCodeSnapshotDeliverSubjInvalid:
		return 400, "deliver subject not valid", true

	// Stream management.
	case ErrCodeMirrorWithSources:
		return 400, "stream mirrors can not also contain other sources", true
	case ErrCodeMirrorWithStartSeqAndTime:
		return 400, "stream mirrors can not have both start seq and start time configured", true
	case ErrCodeMirrorWithSubjectFilters:
		return 400, "stream mirrors can not contain filtered subjects", true
	case ErrCodeMirrorWithSubjects:
		return 400, "stream mirrors can not contain subjects", true
	case ErrCodeStreamCreate, ErrCodeStreamDelete, ErrCodeStreamGeneral, ErrCodeStreamInvalidConfig,
		ErrCodeStreamLimits, ErrCodeStreamMsgDeleteFailed, ErrCodeStreamUpdate,
		ErrCodeStreamPurgeFailed, ErrCodeStreamRollupFailed:
		return 500, "{err}", true
	case ErrCodeStreamMirrorNotUpdatable:
		return 400, "stream mirror configuration can not be updated", true
	case ErrCodeStreamMismatch:
		return 400, "stream name in subject does not match request", true
	case ErrCodeStreamNameExist:
		return 400, "stream name already in use with a different configuration", true
	case ErrCodeStreamNotFound:
		return 404, "stream not found", true
	case ErrCodeStreamReplicasNotUpdatable:
		return 400, "Replicas configuration can not be updated", true
	case ErrCodeStreamRestore:
		return 500, "restore failed: {err}", true
	case ErrCodeStreamSnapshot:
		return 500, "snapshot failed: {err}", true
	case ErrCodeStreamSubjectOverlap:
		return 400, "subjects overlap with an existing stream", true
	case ErrCodeStreamReplicasNotSupported:
		return 500, "replicas > 1 not supported in non-clustered mode", true
	case ErrCodeStreamInvalid:
		return 500, "stream not valid", true
	case ErrCodeStreamSealed:
		return 400, "invalid operation on sealed stream", true
	case ErrCodeStreamMaxBytesRequired:
		return 400, "account requires a stream config to have max bytes set", true
	case ErrCodeStreamInfoMaxSubjects:
		return 500, "subject details would exceed maximum allowed", true
	case ErrCodeStreamOffline:
		return 500, "stream is offline", true
	case ErrCodeStreamMaxStreamBytesExceeded:
		return 400, "stream max bytes exceeds account limit max stream bytes", true
	case ErrCodeStreamNameContainsPathSeparators:
		return 400, "Stream name can not contain path separators", true
	case ErrCodeStreamNameExistRestoreFailed:
		return 400, "stream name already in use, cannot restore", true
	case ErrCodeSourceDuplicateDetected:
		return 400, "duplicate source configuration detected", true
	case ErrCodeSourceInvalidStreamName:
		return 400, "sourced stream name is invalid", true
	case ErrCodeMirrorInvalidStreamName:
		return 400, "mirrored stream name is invalid", true
	case ErrCodeMirrorWithFirstSeq:
		return 400, "stream mirrors can not have first sequence configured", true
	case ErrCodeStreamTransformInvalidSource:
		return 400, "stream transform source: {err}", true
	case ErrCodeStreamTransformInvalidDest:
		return 400, "stream transform: {err}", true
	case ErrCodeMirrorMaxMessageSizeTooBig:
		return 400, "stream mirror must have max message size >= source", true
	case ErrCodeSourceMaxMessageSizeTooBig:
		return 400, "stream source must have max message size >= target", true
	case ErrCodeSourceMultipleFiltersNotAllowed:
		return 400, "source with multiple subject transforms cannot also have a single subject filter", true
	case ErrCodeSourceInvalidSubjectFilter:
		return 400, "source transform source: {err}", true
	case ErrCodeSourceInvalidTransformDest:
		return 400, "source transform: {err}", true
	case ErrCodeSourceOverlappingSubjectFilters:
		return 400, "source filters can not overlap", true
	case ErrCodeMirrorMultipleFiltersNotAllowed:
		return 400, "mirror with multiple subject transforms cannot also have a single subject filter", true
	case ErrCodeMirrorInvalidSubjectFilter:
		return 400, "mirror transform source: {err}", true
	case ErrCodeMirrorOverlappingSubjectFilters:
		return 400, "mirror subject filters can not overlap", true
	case ErrCodeMirrorInvalidTransformDest:
		return 400, "mirror transform: {err}", true

	// Publish and messages.
	case ErrCodeNoMessageFound:
		return 404, "no message found", true
	case ErrCodeSequenceNotFound:
		return 400, "sequence {seq} not found", true
	case ErrCodeStreamMessageExceedsMaximum:
		return 400, "message size exceeds maximum allowed", true
	case ErrCodeStreamNotMatch:
		return 400, "expected stream does not match", true
	case ErrCodeStreamSequenceNotMatch:
		return 503, "expected stream sequence does not match", true
	case ErrCodeStreamWrongLastMsgID:
		return 400, "wrong last msg ID: {id}", true
	case ErrCodeStreamWrongLastSequence:
		return 400, "wrong last sequence: {seq}", true
	case ErrCodeStreamStoreFailed:
		return 503, "{err}", true
	case ErrCodeStreamHeaderExceedsMaximum:
		return 400, "header size exceeds maximum allowed of 64k", true
	case ErrCodeStreamDuplicateMessageConflict:
		return 409, "duplicate message id is in process", true
	case ErrCodeStreamExpectedLastSeqPerSubjectNotReady:
		return 503, "expected last sequence per subject temporarily unavailable", true
	case ErrCodeStreamWrongLastSequenceConstant:
		return 400, "wrong last sequence", true
	case ErrCodeMessageTTLInvalid:
		return 400, "invalid per-message TTL", true
	case ErrCodeAtomicPublishDisabled:
		return 400, "atomic publish is disabled", true
	case ErrCodeBatchPublishDisabled:
		return 400, "batch publish is disabled", true
	case ErrCodeAtomicPublishMissingSeq:
		return 400, "atomic publish sequence is missing", true
	case ErrCodeAtomicPublishIncompleteBatch:
		return 400, "atomic publish batch is incomplete", true
	case ErrCodeAtomicPublishUnsupportedHeader:
		return 400, "atomic publish unsupported header used: {header}", true
	case ErrCodeAtomicPublishInvalidBatchID:
		return 400, "atomic publish batch ID is invalid", true
	case ErrCodeAtomicPublishTooLargeBatch:
		return 400, "atomic publish batch is too large: {size}", true
	case ErrCodeAtomicPublishInvalidCommit:
		return 400, "atomic publish batch commit is invalid", true
	case ErrCodeAtomicPublishContainsDuplicate:
		return 400, "atomic publish batch contains duplicate message id", true
	case ErrCodeBatchPublishInvalidPattern:
		return 400, "batch publish pattern is invalid", true
	case ErrCodeBatchPublishInvalidBatchID:
		return 400, "batch publish ID is invalid", true
	case ErrCodeBatchPublishUnknownBatchID:
		return 400, "batch publish ID unknown", true
	case ErrCodeAtomicPublishTooManyInflight:
		return 429, "atomic publish too many inflight", true
	case ErrCodeBatchPublishTooManyInflight:
		return 429, "batch publish too many inflight", true
	case ErrCodeMessageTTLDisabled:
		return 400, "per-message TTL is disabled", true
	case ErrCodeMessageSourceHdrNotAllowed:
		return 400, "message stream source header is not allowed", true
	case ErrCodeMessageIncrDisabled:
		return 400, "message counters is disabled", true
	case ErrCodeMessageIncrMissing:
		return 400, "message counter increment is missing", true
	case ErrCodeMessageIncrPayload:
		return 400, "message counter has payload", true
	case ErrCodeMessageIncrInvalid:
		return 400, "message counter increment is invalid", true
	case ErrCodeMessageCounterBroken:
		return 400, "message counter is broken", true
	case ErrCodeMessageSchedulesDisabled:
		return 400, "message schedules is disabled", true
	case ErrCodeMessageSchedulesPatternInvalid:
		return 400, "message schedules pattern is invalid", true
	case ErrCodeMessageSchedulesTargetInvalid:
		return 400, "message schedules target is invalid", true
	case ErrCodeMessageSchedulesTTLInvalid:
		return 400, "message schedules invalid per-message TTL", true
	case ErrCodeMessageSchedulesRollupInvalid:
		return 400, "message schedules invalid rollup", true
	case ErrCodeMessageSchedulesSourceInvalid:
		return 400, "message schedules source is invalid", true
	case ErrCodeMessageSchedulesSchedulerInvalid:
		return 400, "message schedules invalid scheduler", true
	case ErrCodeMessageSchedulesTimeZoneInvalid:
		return 400, "message schedules time zone is invalid", true
	case ErrCodeStreamExpectedLastSeqPerSubjectInvalid:
		return 400, "missing sequence for expected last sequence per subject", true
	}
	return c.consumerTemplate()
}

// consumerTemplate is template for the consumer errors.
func (c ErrCode) consumerTemplate() (status int, desc string, ok bool) {
	switch c {
	case ErrCodeConsumerCreate:
		return 500, "{err}", true
	case ErrCodeConsumerNameExist:
		return 400, "consumer name already in use", true
	case ErrCodeConsumerNotFound:
		return 404, "consumer not found", true
	case ErrCodeConsumerDurableNameNotInSubject:
		return 400, "consumer expected to be durable but no durable name set in subject", true
	case ErrCodeConsumerDurableNameNotMatchSubject:
		return 400, "consumer name in subject does not match durable name in request", true
	case ErrCodeConsumerDurableNameNotSet:
		return 400, "consumer expected to be durable but a durable name was not set", true
	case ErrCodeConsumerEphemeralWithDurableInSubj:
		return 400, "consumer expected to be ephemeral but detected a durable name set in subject", true
	case ErrCodeConsumerEphemeralWithDurableName:
		return 400, "consumer expected to be ephemeral but a durable name was set in request", true
	case ErrCodeConsumerConfigRequired:
		return 400, "consumer config required", true
	case ErrCodeConsumerDeliverToWildcards:
		return 400, "consumer deliver subject has wildcards", true
	case ErrCodeConsumerPushMaxWaiting:
		return 400, "consumer in push mode can not set max waiting", true
	case ErrCodeConsumerDeliverCycle:
		return 400, "consumer deliver subject forms a cycle", true
	case ErrCodeConsumerMaxPendingAckPolicyRequired:
		return 400, "consumer requires ack policy for max ack pending", true
	case ErrCodeConsumerSmallHeartbeat:
		return 400, "consumer idle heartbeat needs to be >= 100ms", true
	case ErrCodeConsumerPullRequiresAck:
		return 400, "consumer in pull mode requires explicit ack policy on workqueue stream", true
	case ErrCodeConsumerPullNotDurable:
		return 400, "consumer in pull mode requires a durable name", true
	case ErrCodeConsumerPullWithRateLimit:
		return 400, "consumer in pull mode can not have rate limit set", true
	case ErrCodeConsumerMaxWaitingNegative:
		return 400, "consumer max waiting needs to be positive", true
	case ErrCodeConsumerHBRequiresPush:
		return 400, "consumer idle heartbeat requires a push based consumer", true
	case ErrCodeConsumerFCRequiresPush:
		return 400, "consumer flow control requires a push based consumer", true
	case ErrCodeConsumerDirectRequiresPush:
		return 400, "consumer direct requires a push based consumer", true
	case ErrCodeConsumerDirectRequiresEphemeral:
		return 400, "consumer direct requires an ephemeral consumer", true
	case ErrCodeConsumerOnMapped:
		return 400, "consumer direct on a mapped consumer", true
	case ErrCodeConsumerFilterNotSubset:
		return 400, "consumer filter subject is not a valid subset of the interest subjects", true
	case ErrCodeConsumerInvalidPolicy:
		return 400, "{err}", true
	case ErrCodeConsumerInvalidSampling:
		return 400, "failed to parse consumer sampling configuration: {err}", true
	case ErrCodeConsumerWQRequiresExplicitAck:
		return 400, "workqueue stream requires explicit ack", true
	case ErrCodeConsumerWQMultipleUnfiltered:
		return 400, "multiple non-filtered consumers not allowed on workqueue stream", true
	case ErrCodeConsumerWQConsumerNotUnique:
		return 400, "filtered consumer not unique on workqueue stream", true
	case ErrCodeConsumerWQConsumerNotDeliverAll:
		return 400, "consumer must be deliver all on workqueue stream", true
	case ErrCodeConsumerNameTooLong:
		return 400, "consumer name is too long, maximum allowed is {max}", true
	case ErrCodeConsumerBadDurableName:
		return 400, "durable name can not contain '.', '*', '>'", true
	case ErrCodeConsumerStoreFailed:
		return 500, "error creating store for consumer: {err}", true
	case ErrCodeConsumerExistingActive:
		return 400, "consumer already exists and is still active", true
	case ErrCodeConsumerReplacementWithDifferentName:
		return 400, "consumer replacement durable config not the same", true
	case ErrCodeConsumerDescriptionTooLong:
		return 400, "consumer description is too long, maximum allowed is {max}", true
	case ErrCodeConsumerWithFlowControlNeedsHB:
		return 400, "consumer with flow control also needs heartbeats", true
	case ErrCodeConsumerInvalidDeliverSubject:
		return 400, "invalid push consumer deliver subject", true
	case ErrCodeConsumerMaxRequestBatchNegative:
		return 400, "consumer max request batch needs to be > 0", true
	case ErrCodeConsumerMaxRequestExpiresTooSmall:
		return 400, "consumer max request expires needs to be >= 1ms", true
	case ErrCodeConsumerMaxDeliverBackoff:
		return 400, "max deliver is required to be > length of backoff values", true
	case ErrCodeConsumerOffline:
		return 500, "consumer is offline", true
	case ErrCodeConsumerMaxPendingAckExcess:
		return 400, "consumer max ack pending exceeds system limit of {limit}", true
	case ErrCodeConsumerMaxRequestBatchExceeded:
		return 400, "consumer max request batch exceeds server limit of {limit}", true
	case ErrCodeConsumerReplicasExceedsStream:
		return 400, "consumer config replica count exceeds parent stream", true
	case ErrCodeConsumerNameContainsPathSeparators:
		return 400, "Consumer name can not contain path separators", true
	case ErrCodeConsumerCreateFilterSubjectMismatch:
		return 400, "Consumer create request did not match filtered subject from create subject", true
	case ErrCodeConsumerDurableAndNameMismatch:
		return 400, "Consumer Durable and Name have to be equal if both are provided", true
	case ErrCodeConsumerReplicasShouldMatchStream:
		return 400, "consumer config replicas must match interest retention stream's replicas", true
	case ErrCodeConsumerMetadataLength:
		return 400, "consumer metadata exceeds maximum size of {limit}", true
	case ErrCodeConsumerDuplicateFilterSubjects:
		return 400, "consumer cannot have both FilterSubject and FilterSubjects specified", true
	case ErrCodeConsumerMultipleFiltersNotAllowed:
		return 400, "consumer with multiple subject filters cannot use subject based API", true
	case ErrCodeConsumerOverlappingSubjectFilters:
		return 400, "consumer subject filters cannot overlap", true
	case ErrCodeConsumerEmptyFilter:
		return 400, "consumer filter in FilterSubjects cannot be empty", true
	case ErrCodeConsumerAlreadyExists:
		return 400, "consumer already exists", true
	case ErrCodeConsumerDoesNotExist:
		return 400, "consumer does not exist", true
	case ErrCodeConsumerInactiveThresholdExcess:
		return 400, "consumer inactive threshold exceeds system limit of {limit}", true
	case ErrCodeConsumerPriorityPolicyWithoutGroup:
		return 400, "Setting PriorityPolicy requires at least one PriorityGroup to be set", true
	case ErrCodeConsumerInvalidPriorityGroup:
		return 400, "Provided priority group does not exist for this consumer", true
	case ErrCodeConsumerEmptyGroupName:
		return 400, "Group name cannot be an empty string", true
	case ErrCodeConsumerInvalidGroupName:
		return 400, "Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters", true
	case ErrCodeConsumerPushWithPriorityGroup:
		return 400, "priority groups can not be used with push consumers", true
	case ErrCodeConsumerAckPolicyInvalid:
		return 400, "consumer ack policy invalid", true
	case ErrCodeConsumerReplayPolicyInvalid:
		return 400, "consumer replay policy invalid", true
	case ErrCodeConsumerAckWaitNegative:
		return 400, "consumer ack wait needs to be positive", true
	case ErrCodeConsumerBackOffNegative:
		return 400, "consumer backoff needs to be positive", true
	case ErrCodeConsumerPriorityGroupWithPolicyNone:
		return 400, "consumer can not have priority groups when policy is none", true
	case ErrCodeConsumerPinnedTTLWithoutPriority:
		return 400, "PinnedTTL cannot be set when PriorityPolicy is none", true
	case ErrCodeConsumerInvalidReset:
		return 400, "invalid reset: {err}", true
	case ErrCodeConsumerAckFCRequiresPush:
		return 400, "flow control ack policy requires a push based consumer", true
	case ErrCodeConsumerAckFCRequiresFC:
		return 400, "flow control ack policy requires flow control", true
	case ErrCodeConsumerAckFCRequiresMaxAckPending:
		return 400, "flow control ack policy requires max ack pending", true
	case ErrCodeConsumerAckFCRequiresNoAckWait:
		return 400, "flow control ack policy requires unset ack wait", true
	case ErrCodeConsumerAckFCRequiresNoMaxDeliver:
		return 400, "flow control ack policy requires unset max deliver", true
	case ErrCodeMirrorDurableConsumerCfgInvalid:
		return 400, "stream mirror consumer config is invalid", true
	case ErrCodeMirrorConsumerRequiresAckFC:
		return 400, "stream mirror consumer requires flow control ack policy", true
	case ErrCodeSourceDurableConsumerCfgInvalid:
		return 400, "stream source consumer config is invalid", true
	case ErrCodeSourceDurableConsumerDuplicate:
		return 400, "duplicate stream source consumer detected", true
	case ErrCodeSourceConsumerRequiresAckFC:
		return 400, "stream source consumer requires flow control ack policy", true
	}
	return 500, "", false
}
