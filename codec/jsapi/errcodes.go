package jsapi

// ErrCode is nats-server's numeric JetStream error identifier, the
// "err_code" of an APIError. The constants below are the subset a single
// server with streams, consumers and the message APIs needs; their status
// and description (see NewAPIError) are checked against nats-server
// 2.15.2's jetstream_errors_generated.go by TestErrCodesMatchNATSServer.
// A description with a {placeholder} takes an argument in NewAPIError.
type ErrCode uint16

// General, account and API errors.
const (
	ErrCodeAccountResourcesExceeded   ErrCode = 10002 // 400 resource limits exceeded for account
	ErrCodeBadRequest                 ErrCode = 10003 // 400 bad request
	ErrCodeClusterNoPeers             ErrCode = 10005 // 400 {err}
	ErrCodeClusterNotActive           ErrCode = 10006 // 500 JetStream not in clustered mode
	ErrCodeClusterNotAvail            ErrCode = 10008 // 503 JetStream system temporarily unavailable
	ErrCodeClusterNotLeader           ErrCode = 10009 // 500 JetStream cluster can not handle request
	ErrCodeClusterRequired            ErrCode = 10010 // 503 JetStream clustering support required
	ErrCodeClusterTags                ErrCode = 10011 // 400 tags placement not supported for operation
	ErrCodeInsufficientResources      ErrCode = 10023 // 503 insufficient resources
	ErrCodeInvalidJSON                ErrCode = 10025 // 400 invalid JSON: {err}
	ErrCodeMaximumConsumersLimit      ErrCode = 10026 // 400 maximum consumers limit reached
	ErrCodeMaximumStreamsLimit        ErrCode = 10027 // 400 maximum number of streams reached
	ErrCodeMemoryResourcesExceeded    ErrCode = 10028 // 500 insufficient memory resources available
	ErrCodeNoAccount                  ErrCode = 10035 // 503 account not found
	ErrCodeClusterUnsupportedFeature  ErrCode = 10036 // 503 not currently supported in clustered mode
	ErrCodeNotEmptyRequest            ErrCode = 10038 // 400 expected an empty request payload
	ErrCodeNotEnabledForAccount       ErrCode = 10039 // 503 JetStream not enabled for account
	ErrCodeRaftGeneral                ErrCode = 10041 // 500 {err}
	ErrCodeStorageResourcesExceeded   ErrCode = 10047 // 500 insufficient storage resources available
	ErrCodeNotEnabled                 ErrCode = 10076 // 503 JetStream not enabled
	ErrCodeNoLimits                   ErrCode = 10120 // 400 no JetStream default or applicable tiered limit present
	ErrCodeReplicasCountNegative      ErrCode = 10133 // 400 replicas count cannot be negative
	ErrCodePedantic                   ErrCode = 10157 // 400 pedantic mode: {err}
	ErrCodeStreamTooManyRequests      ErrCode = 10167 // 429 too many requests
	ErrCodeRequiredAPILevel           ErrCode = 10185 // 412 JetStream minimum api level required
	ErrCodeSnapshotDeliverSubjInvalid ErrCode = 10015 // 400 deliver subject not valid
)

// Stream management errors.
const (
	ErrCodeMirrorWithSources                ErrCode = 10031 // 400 stream mirrors can not also contain other sources
	ErrCodeMirrorWithStartSeqAndTime        ErrCode = 10032 // 400 stream mirrors can not have both start seq and start time configured
	ErrCodeMirrorWithSubjectFilters         ErrCode = 10033 // 400 stream mirrors can not contain filtered subjects
	ErrCodeMirrorWithSubjects               ErrCode = 10034 // 400 stream mirrors can not contain subjects
	ErrCodeStreamCreate                     ErrCode = 10049 // 500 {err}
	ErrCodeStreamDelete                     ErrCode = 10050 // 500 {err}
	ErrCodeStreamGeneral                    ErrCode = 10051 // 500 {err}
	ErrCodeStreamInvalidConfig              ErrCode = 10052 // 500 {err}
	ErrCodeStreamLimits                     ErrCode = 10053 // 500 {err}
	ErrCodeStreamMirrorNotUpdatable         ErrCode = 10055 // 400 stream mirror configuration can not be updated
	ErrCodeStreamMismatch                   ErrCode = 10056 // 400 stream name in subject does not match request
	ErrCodeStreamMsgDeleteFailed            ErrCode = 10057 // 500 {err}
	ErrCodeStreamNameExist                  ErrCode = 10058 // 400 stream name already in use with a different configuration
	ErrCodeStreamNotFound                   ErrCode = 10059 // 404 stream not found
	ErrCodeStreamReplicasNotUpdatable       ErrCode = 10061 // 400 Replicas configuration can not be updated
	ErrCodeStreamRestore                    ErrCode = 10062 // 500 restore failed: {err}
	ErrCodeStreamSnapshot                   ErrCode = 10064 // 500 snapshot failed: {err}
	ErrCodeStreamSubjectOverlap             ErrCode = 10065 // 400 subjects overlap with an existing stream
	ErrCodeStreamUpdate                     ErrCode = 10069 // 500 {err}
	ErrCodeStreamReplicasNotSupported       ErrCode = 10074 // 500 replicas > 1 not supported in non-clustered mode
	ErrCodeStreamInvalid                    ErrCode = 10096 // 500 stream not valid
	ErrCodeStreamSealed                     ErrCode = 10109 // 400 invalid operation on sealed stream
	ErrCodeStreamPurgeFailed                ErrCode = 10110 // 500 {err}
	ErrCodeStreamRollupFailed               ErrCode = 10111 // 500 {err}
	ErrCodeStreamMaxBytesRequired           ErrCode = 10113 // 400 account requires a stream config to have max bytes set
	ErrCodeStreamInfoMaxSubjects            ErrCode = 10117 // 500 subject details would exceed maximum allowed
	ErrCodeStreamOffline                    ErrCode = 10118 // 500 stream is offline
	ErrCodeStreamMaxStreamBytesExceeded     ErrCode = 10122 // 400 stream max bytes exceeds account limit max stream bytes
	ErrCodeStreamNameContainsPathSeparators ErrCode = 10128 // 400 Stream name can not contain path separators
	ErrCodeStreamNameExistRestoreFailed     ErrCode = 10130 // 400 stream name already in use, cannot restore
	ErrCodeSourceDuplicateDetected          ErrCode = 10140 // 400 duplicate source configuration detected
	ErrCodeSourceInvalidStreamName          ErrCode = 10141 // 400 sourced stream name is invalid
	ErrCodeMirrorInvalidStreamName          ErrCode = 10142 // 400 mirrored stream name is invalid
	ErrCodeMirrorWithFirstSeq               ErrCode = 10143 // 400 stream mirrors can not have first sequence configured
	ErrCodeStreamTransformInvalidSource     ErrCode = 10155 // 400 stream transform source: {err}
	ErrCodeStreamTransformInvalidDest       ErrCode = 10156 // 400 stream transform: {err}
	ErrCodeMirrorMaxMessageSizeTooBig       ErrCode = 10030 // 400 stream mirror must have max message size >= source
	ErrCodeSourceMaxMessageSizeTooBig       ErrCode = 10046 // 400 stream source must have max message size >= target
	ErrCodeSourceMultipleFiltersNotAllowed  ErrCode = 10144 // 400 source with multiple subject transforms cannot also have a single subject filter
	ErrCodeSourceInvalidSubjectFilter       ErrCode = 10145 // 400 source transform source: {err}
	ErrCodeSourceInvalidTransformDest       ErrCode = 10146 // 400 source transform: {err}
	ErrCodeSourceOverlappingSubjectFilters  ErrCode = 10147 // 400 source filters can not overlap
	ErrCodeMirrorMultipleFiltersNotAllowed  ErrCode = 10150 // 400 mirror with multiple subject transforms cannot also have a single subject filter
	ErrCodeMirrorInvalidSubjectFilter       ErrCode = 10151 // 400 mirror transform source: {err}
	ErrCodeMirrorOverlappingSubjectFilters  ErrCode = 10152 // 400 mirror subject filters can not overlap
	ErrCodeMirrorInvalidTransformDest       ErrCode = 10154 // 400 mirror transform: {err}
)

// Publish and message errors.
const (
	// ErrCodeNoMessageFound is MSG.GET's "no message found".
	ErrCodeNoMessageFound ErrCode = 10037 // 404 no message found
	// ErrCodeSequenceNotFound is MSG.DELETE's unknown sequence.
	ErrCodeSequenceNotFound ErrCode = 10043 // 400 sequence {seq} not found
	// ErrCodeStreamMessageExceedsMaximum: message larger than max_msg_size.
	ErrCodeStreamMessageExceedsMaximum ErrCode = 10054 // 400 message size exceeds maximum allowed
	// ErrCodeStreamNotMatch: Nats-Expected-Stream differs.
	ErrCodeStreamNotMatch ErrCode = 10060 // 400 expected stream does not match
	// ErrCodeStreamSequenceNotMatch: clustered expected-sequence failure.
	ErrCodeStreamSequenceNotMatch ErrCode = 10063 // 503 expected stream sequence does not match
	// ErrCodeStreamWrongLastMsgID: Nats-Expected-Last-Msg-Id differs; the arg is the actual last id.
	ErrCodeStreamWrongLastMsgID ErrCode = 10070 // 400 wrong last msg ID: {id}
	// ErrCodeStreamWrongLastSequence: Nats-Expected-Last(-Subject)-Sequence differs; the arg is the actual sequence.
	ErrCodeStreamWrongLastSequence ErrCode = 10071 // 400 wrong last sequence: {seq}
	// ErrCodeStreamStoreFailed carries a store error; the arg is one of the
	// Store... strings, e.g. StoreMsgTooLarge (nats-server's 10077 "message too large").
	ErrCodeStreamStoreFailed ErrCode = 10077 // 503 {err}
	// ErrCodeStreamHeaderExceedsMaximum: header block over 64 KiB.
	ErrCodeStreamHeaderExceedsMaximum ErrCode = 10097 // 400 header size exceeds maximum allowed of 64k
	// ErrCodeStreamDuplicateMessageConflict: same Nats-Msg-Id still in flight.
	ErrCodeStreamDuplicateMessageConflict ErrCode = 10158 // 409 duplicate message id is in process
	// ErrCodeStreamExpectedLastSeqPerSubjectNotReady: per-subject check not yet possible.
	ErrCodeStreamExpectedLastSeqPerSubjectNotReady ErrCode = 10163 // 503 expected last sequence per subject temporarily unavailable
	// ErrCodeStreamWrongLastSequenceConstant is the argument-less form of 10071.
	ErrCodeStreamWrongLastSequenceConstant ErrCode = 10164 // 400 wrong last sequence
	// ErrCodeMessageTTLInvalid: bad Nats-TTL header.
	ErrCodeMessageTTLInvalid ErrCode = 10165 // 400 invalid per-message TTL
	// ErrCodeMessageTTLDisabled: Nats-TTL on a stream without allow_msg_ttl.
	ErrCodeMessageTTLDisabled ErrCode = 10166 // 400 per-message TTL is disabled
	// ErrCodeMessageSourceHdrNotAllowed: a client publish carrying
	// Nats-Stream-Source (only a source's copies may).
	ErrCodeMessageSourceHdrNotAllowed ErrCode = 10227 // 400 message stream source header is not allowed
	// Counters (ADR-49): Nats-Incr on a stream without allow_msg_counter,
	// a counter stream's message without it, with a payload, with an
	// invalid value (or a header a counter cannot take), and a stored
	// counter value that does not parse.
	ErrCodeMessageIncrDisabled  ErrCode = 10168 // 400 message counters is disabled
	ErrCodeMessageIncrMissing   ErrCode = 10169 // 400 message counter increment is missing
	ErrCodeMessageIncrPayload   ErrCode = 10170 // 400 message counter has payload
	ErrCodeMessageIncrInvalid   ErrCode = 10171 // 400 message counter increment is invalid
	ErrCodeMessageCounterBroken ErrCode = 10172 // 400 message counter is broken
	// Message schedules (ADR-51).
	ErrCodeMessageSchedulesDisabled         ErrCode = 10188 // 400 message schedules is disabled
	ErrCodeMessageSchedulesPatternInvalid   ErrCode = 10189 // 400 message schedules pattern is invalid
	ErrCodeMessageSchedulesTargetInvalid    ErrCode = 10190 // 400 message schedules target is invalid
	ErrCodeMessageSchedulesTTLInvalid       ErrCode = 10191 // 400 message schedules invalid per-message TTL
	ErrCodeMessageSchedulesRollupInvalid    ErrCode = 10192 // 400 message schedules invalid rollup
	ErrCodeMessageSchedulesSourceInvalid    ErrCode = 10203 // 400 message schedules source is invalid
	ErrCodeMessageSchedulesSchedulerInvalid ErrCode = 10212 // 400 message schedules invalid scheduler
	ErrCodeMessageSchedulesTimeZoneInvalid  ErrCode = 10223 // 400 message schedules time zone is invalid
	// ErrCodeAtomicPublishDisabled: Nats-Batch-Id on a stream without
	// allow_atomic.
	ErrCodeAtomicPublishDisabled ErrCode = 10174 // 400 atomic publish is disabled
	// ErrCodeBatchPublishDisabled: a fast-batch publish on a stream without
	// allow_batched.
	ErrCodeBatchPublishDisabled ErrCode = 10205 // 400 batch publish is disabled
	// Atomic and fast batch publish (ADR-50), as nats-server 2.14.
	ErrCodeAtomicPublishMissingSeq        ErrCode = 10175 // 400 atomic publish sequence is missing
	ErrCodeAtomicPublishIncompleteBatch   ErrCode = 10176 // 400 atomic publish batch is incomplete
	ErrCodeAtomicPublishUnsupportedHeader ErrCode = 10177 // 400 atomic publish unsupported header used: {header}
	ErrCodeAtomicPublishInvalidBatchID    ErrCode = 10179 // 400 atomic publish batch ID is invalid
	ErrCodeAtomicPublishTooLargeBatch     ErrCode = 10199 // 400 atomic publish batch is too large: {size}
	ErrCodeAtomicPublishInvalidCommit     ErrCode = 10200 // 400 atomic publish batch commit is invalid
	ErrCodeAtomicPublishContainsDuplicate ErrCode = 10201 // 400 atomic publish batch contains duplicate message id
	ErrCodeBatchPublishInvalidPattern     ErrCode = 10206 // 400 batch publish pattern is invalid
	ErrCodeBatchPublishInvalidBatchID     ErrCode = 10207 // 400 batch publish ID is invalid
	ErrCodeBatchPublishUnknownBatchID     ErrCode = 10208 // 400 batch publish ID unknown
	ErrCodeAtomicPublishTooManyInflight   ErrCode = 10210 // 429 atomic publish too many inflight
	ErrCodeBatchPublishTooManyInflight    ErrCode = 10211 // 429 batch publish too many inflight
	// ErrCodeStreamExpectedLastSeqPerSubjectInvalid: subject given without a sequence.
	ErrCodeStreamExpectedLastSeqPerSubjectInvalid ErrCode = 10193 // 400 missing sequence for expected last sequence per subject
)

// Arguments of ErrCodeStreamStoreFailed, worded as nats-server's store
// errors (a publish refused by a discard-new limit reads, for example,
// "maximum messages exceeded (10077)").
const (
	StoreMsgTooLarge       = "message too large"
	StoreMaxMsgs           = "maximum messages exceeded"
	StoreMaxBytes          = "maximum bytes exceeded"
	StoreMaxMsgsPerSubject = "maximum messages per subject exceeded"
	StoreClosed            = "store is closed"
	StoreNoSpace           = "no space left on device" // a write failed on a full disk
	StoreIOError           = "storage write failed"    // any other write failure
)

// Consumer errors.
const (
	ErrCodeConsumerCreate                       ErrCode = 10012 // 500 {err}
	ErrCodeConsumerNameExist                    ErrCode = 10013 // 400 consumer name already in use
	ErrCodeConsumerNotFound                     ErrCode = 10014 // 404 consumer not found
	ErrCodeConsumerDurableNameNotInSubject      ErrCode = 10016 // 400 consumer expected to be durable but no durable name set in subject
	ErrCodeConsumerDurableNameNotMatchSubject   ErrCode = 10017 // 400 consumer name in subject does not match durable name in request
	ErrCodeConsumerDurableNameNotSet            ErrCode = 10018 // 400 consumer expected to be durable but a durable name was not set
	ErrCodeConsumerEphemeralWithDurableInSubj   ErrCode = 10019 // 400 consumer expected to be ephemeral but detected a durable name set in subject
	ErrCodeConsumerEphemeralWithDurableName     ErrCode = 10020 // 400 consumer expected to be ephemeral but a durable name was set in request
	ErrCodeConsumerConfigRequired               ErrCode = 10078 // 400 consumer config required
	ErrCodeConsumerDeliverToWildcards           ErrCode = 10079 // 400 consumer deliver subject has wildcards
	ErrCodeConsumerPushMaxWaiting               ErrCode = 10080 // 400 consumer in push mode can not set max waiting
	ErrCodeConsumerDeliverCycle                 ErrCode = 10081 // 400 consumer deliver subject forms a cycle
	ErrCodeConsumerMaxPendingAckPolicyRequired  ErrCode = 10082 // 400 consumer requires ack policy for max ack pending
	ErrCodeConsumerSmallHeartbeat               ErrCode = 10083 // 400 consumer idle heartbeat needs to be >= 100ms
	ErrCodeConsumerPullRequiresAck              ErrCode = 10084 // 400 consumer in pull mode requires explicit ack policy on workqueue stream
	ErrCodeConsumerPullNotDurable               ErrCode = 10085 // 400 consumer in pull mode requires a durable name
	ErrCodeConsumerPullWithRateLimit            ErrCode = 10086 // 400 consumer in pull mode can not have rate limit set
	ErrCodeConsumerMaxWaitingNegative           ErrCode = 10087 // 400 consumer max waiting needs to be positive
	ErrCodeConsumerHBRequiresPush               ErrCode = 10088 // 400 consumer idle heartbeat requires a push based consumer
	ErrCodeConsumerFCRequiresPush               ErrCode = 10089 // 400 consumer flow control requires a push based consumer
	ErrCodeConsumerDirectRequiresPush           ErrCode = 10090 // 400 consumer direct requires a push based consumer
	ErrCodeConsumerDirectRequiresEphemeral      ErrCode = 10091 // 400 consumer direct requires an ephemeral consumer
	ErrCodeConsumerOnMapped                     ErrCode = 10092 // 400 consumer direct on a mapped consumer
	ErrCodeConsumerFilterNotSubset              ErrCode = 10093 // 400 consumer filter subject is not a valid subset of the interest subjects
	ErrCodeConsumerInvalidPolicy                ErrCode = 10094 // 400 {err}
	ErrCodeConsumerInvalidSampling              ErrCode = 10095 // 400 failed to parse consumer sampling configuration: {err}
	ErrCodeConsumerWQRequiresExplicitAck        ErrCode = 10098 // 400 workqueue stream requires explicit ack
	ErrCodeConsumerWQMultipleUnfiltered         ErrCode = 10099 // 400 multiple non-filtered consumers not allowed on workqueue stream
	ErrCodeConsumerWQConsumerNotUnique          ErrCode = 10100 // 400 filtered consumer not unique on workqueue stream
	ErrCodeConsumerWQConsumerNotDeliverAll      ErrCode = 10101 // 400 consumer must be deliver all on workqueue stream
	ErrCodeConsumerNameTooLong                  ErrCode = 10102 // 400 consumer name is too long, maximum allowed is {max}
	ErrCodeConsumerBadDurableName               ErrCode = 10103 // 400 durable name can not contain '.', '*', '>'
	ErrCodeConsumerStoreFailed                  ErrCode = 10104 // 500 error creating store for consumer: {err}
	ErrCodeConsumerExistingActive               ErrCode = 10105 // 400 consumer already exists and is still active
	ErrCodeConsumerReplacementWithDifferentName ErrCode = 10106 // 400 consumer replacement durable config not the same
	ErrCodeConsumerDescriptionTooLong           ErrCode = 10107 // 400 consumer description is too long, maximum allowed is {max}
	ErrCodeConsumerWithFlowControlNeedsHB       ErrCode = 10108 // 400 consumer with flow control also needs heartbeats
	ErrCodeConsumerInvalidDeliverSubject        ErrCode = 10112 // 400 invalid push consumer deliver subject
	ErrCodeConsumerMaxRequestBatchNegative      ErrCode = 10114 // 400 consumer max request batch needs to be > 0
	ErrCodeConsumerMaxRequestExpiresTooSmall    ErrCode = 10115 // 400 consumer max request expires needs to be >= 1ms
	ErrCodeConsumerMaxDeliverBackoff            ErrCode = 10116 // 400 max deliver is required to be > length of backoff values
	ErrCodeConsumerOffline                      ErrCode = 10119 // 500 consumer is offline
	ErrCodeConsumerMaxPendingAckExcess          ErrCode = 10121 // 400 consumer max ack pending exceeds system limit of {limit}
	ErrCodeConsumerMaxRequestBatchExceeded      ErrCode = 10125 // 400 consumer max request batch exceeds server limit of {limit}
	ErrCodeConsumerReplicasExceedsStream        ErrCode = 10126 // 400 consumer config replica count exceeds parent stream
	ErrCodeConsumerNameContainsPathSeparators   ErrCode = 10127 // 400 Consumer name can not contain path separators
	ErrCodeConsumerCreateFilterSubjectMismatch  ErrCode = 10131 // 400 Consumer create request did not match filtered subject from create subject
	ErrCodeConsumerDurableAndNameMismatch       ErrCode = 10132 // 400 Consumer Durable and Name have to be equal if both are provided
	ErrCodeConsumerReplicasShouldMatchStream    ErrCode = 10134 // 400 consumer config replicas must match interest retention stream's replicas
	ErrCodeConsumerMetadataLength               ErrCode = 10135 // 400 consumer metadata exceeds maximum size of {limit}
	ErrCodeConsumerDuplicateFilterSubjects      ErrCode = 10136 // 400 consumer cannot have both FilterSubject and FilterSubjects specified
	ErrCodeConsumerMultipleFiltersNotAllowed    ErrCode = 10137 // 400 consumer with multiple subject filters cannot use subject based API
	ErrCodeConsumerOverlappingSubjectFilters    ErrCode = 10138 // 400 consumer subject filters cannot overlap
	ErrCodeConsumerEmptyFilter                  ErrCode = 10139 // 400 consumer filter in FilterSubjects cannot be empty
	ErrCodeConsumerAlreadyExists                ErrCode = 10148 // 400 consumer already exists
	ErrCodeConsumerDoesNotExist                 ErrCode = 10149 // 400 consumer does not exist
	ErrCodeConsumerInactiveThresholdExcess      ErrCode = 10153 // 400 consumer inactive threshold exceeds system limit of {limit}
	ErrCodeConsumerPriorityPolicyWithoutGroup   ErrCode = 10159 // 400 Setting PriorityPolicy requires at least one PriorityGroup to be set
	ErrCodeConsumerInvalidPriorityGroup         ErrCode = 10160 // 400 Provided priority group does not exist for this consumer
	ErrCodeConsumerEmptyGroupName               ErrCode = 10161 // 400 Group name cannot be an empty string
	ErrCodeConsumerInvalidGroupName             ErrCode = 10162 // 400 Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters
	ErrCodeConsumerPushWithPriorityGroup        ErrCode = 10178 // 400 priority groups can not be used with push consumers
	ErrCodeConsumerAckPolicyInvalid             ErrCode = 10181 // 400 consumer ack policy invalid
	ErrCodeConsumerReplayPolicyInvalid          ErrCode = 10182 // 400 consumer replay policy invalid
	ErrCodeConsumerAckWaitNegative              ErrCode = 10183 // 400 consumer ack wait needs to be positive
	ErrCodeConsumerBackOffNegative              ErrCode = 10184 // 400 consumer backoff needs to be positive
	ErrCodeConsumerPriorityGroupWithPolicyNone  ErrCode = 10196 // 400 consumer can not have priority groups when policy is none
	ErrCodeConsumerPinnedTTLWithoutPriority     ErrCode = 10197 // 400 PinnedTTL cannot be set when PriorityPolicy is none
	ErrCodeConsumerInvalidReset                 ErrCode = 10204 // 400 invalid reset: {err}
	ErrCodeConsumerAckFCRequiresPush            ErrCode = 10218 // 400 flow control ack policy requires a push based consumer
	ErrCodeConsumerAckFCRequiresFC              ErrCode = 10219 // 400 flow control ack policy requires flow control
	ErrCodeConsumerAckFCRequiresMaxAckPending   ErrCode = 10220 // 400 flow control ack policy requires max ack pending
	ErrCodeConsumerAckFCRequiresNoAckWait       ErrCode = 10221 // 400 flow control ack policy requires unset ack wait
	ErrCodeConsumerAckFCRequiresNoMaxDeliver    ErrCode = 10222 // 400 flow control ack policy requires unset max deliver
	// Durable sourcing (nats-server 2.14): a mirror or source through a
	// named durable consumer of its origin.
	ErrCodeMirrorDurableConsumerCfgInvalid ErrCode = 10213 // 400 stream mirror consumer config is invalid
	ErrCodeMirrorConsumerRequiresAckFC     ErrCode = 10214 // 400 stream mirror consumer requires flow control ack policy
	ErrCodeSourceDurableConsumerCfgInvalid ErrCode = 10215 // 400 stream source consumer config is invalid
	ErrCodeSourceDurableConsumerDuplicate  ErrCode = 10216 // 400 duplicate stream source consumer detected
	ErrCodeSourceConsumerRequiresAckFC     ErrCode = 10217 // 400 stream source consumer requires flow control ack policy
)
