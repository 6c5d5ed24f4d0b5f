import AuditStore
import Contracts
import Moderation
import Foundation
import Logging
import Tracing

/// Runs one request through ``RequestFlow`` against the real (or test) dependencies.
///
/// Every message ends, whatever its bytes: delivered with its audit row, or handed back on
/// revocation or shutdown. Failures are classified (``FailureKind``): a transient one (the
/// database or broker unreachable) is retried with ``Backoff`` while ``WorkerHealth`` reports
/// the dependency unavailable; a permanent one for this message ends it as `rejected`, with a
/// reason code and a DLQ envelope, through an audit row made storable (``DecisionRecord/storable()``)
/// and, should even that be refused, a minimal row of worker-made text. Generation failures
/// are tried `maxGenerationAttempts` times in process; a message whose processing started
/// `maxAttempts` times without ending (the worker died on it) is quarantined as `poison`.
public final class RequestProcessor: Sendable {
    public struct Settings: Sendable {
        public var workerID: String
        public var topics: WorkerTopics
        public var limits: RequestLimits
        public var mitigationPolicy: MitigationPolicy
        /// Attempts at generating and scoring one request before it is dead-lettered. Default: 3.
        public var maxGenerationAttempts: Int
        public var backoff: Backoff
        /// Deliveries of one message that may start processing; the start that reaches this
        /// count quarantines the message as `poison` instead (`limits.max_attempts`). Default: 3.
        public var maxAttempts: Int
        /// The producer's message size limit (`kafka.message_max_bytes`). Default: 1,000,000.
        public var messageMaxBytes: Int
        /// When result images go to the image store (when one is configured).
        public var imageStorePolicy: ImageStorePolicy
        /// Whether the image a decision withholds (blocked, or the original of a censored one)
        /// is kept for reviewers in the audit log (`images.keep_withheld`). Default: true.
        public var keepWithheldImages: Bool

        public init(
            workerID: String, topics: WorkerTopics = WorkerTopics(), limits: RequestLimits = RequestLimits(),
            mitigationPolicy: MitigationPolicy = MitigationPolicy(), maxGenerationAttempts: Int = 3, backoff: Backoff = Backoff(),
            maxAttempts: Int = 3, messageMaxBytes: Int = 1_000_000, imageStorePolicy: ImageStorePolicy = .whenTooLarge,
            keepWithheldImages: Bool = true
        ) {
            self.workerID = workerID
            self.topics = topics
            self.limits = limits
            self.mitigationPolicy = mitigationPolicy
            self.maxGenerationAttempts = maxGenerationAttempts
            self.backoff = backoff
            self.maxAttempts = maxAttempts
            self.messageMaxBytes = messageMaxBytes
            self.imageStorePolicy = imageStorePolicy
            self.keepWithheldImages = keepWithheldImages
        }
    }

    /// Bytes kept free in every published message for the key, headers and record framing.
    static let messageOverheadBytes = 2048

    /// The parts that do the work.
    public struct Components: Sendable {
        public var generator: any ImageGenerating
        public var scorer: any RequestScoring
        public var policy: any DecisionPolicy
        public var censor: any ImageCensoring
        public var audit: any AuditLog
        public var publisher: any ResultPublishing
        /// Where result images go when not inline; nil keeps every image inline (a result that
        /// does not fit is then rejected as `unpublishable`).
        public var imageStore: (any ImageStoring)?
        /// Tenants' Fair Diffusion streams; nil draws each request's value from its seed.
        public var fairness: (any FairnessAssigning)?

        public init(
            generator: any ImageGenerating, scorer: any RequestScoring, policy: any DecisionPolicy,
            censor: any ImageCensoring, audit: any AuditLog, publisher: any ResultPublishing, imageStore: (any ImageStoring)? = nil,
            fairness: (any FairnessAssigning)? = nil
        ) {
            self.generator = generator
            self.scorer = scorer
            self.policy = policy
            self.censor = censor
            self.audit = audit
            self.publisher = publisher
            self.imageStore = imageStore
            self.fairness = fairness
        }
    }

    public let settings: Settings
    public let components: Components
    public let health: WorkerHealth
    private let metrics: WorkerMetrics
    private let moderationMetrics = ModerationMetrics()
    private let logger: Logger
    private let validator: RequestValidator

    public init(settings: Settings, components: Components, health: WorkerHealth, metrics: WorkerMetrics = WorkerMetrics(), logger: Logger) {
        self.settings = settings
        self.components = components
        self.health = health
        self.metrics = metrics
        self.logger = logger
        self.validator = RequestValidator(limits: settings.limits)
    }

    /// How far the message in hand got toward its end, for the fallbacks of permanent failures.
    private enum Fallback {
        /// The row as produced.
        case none
        /// The rejection, with request text made storable.
        case storable
        /// A minimal rejection of worker-made text under the synthetic id.
        case minimal
    }

    /// Processes `message` to the end (delivered and committed) or until handed back by task
    /// cancellation. Never throws: every failure is retried or turned into a rejection.
    ///
    /// Traced as one `chaperone.request` span (a consumer span continuing the trace context of
    /// the message's headers) with child spans for validation, the audit lookup, each
    /// generation try and its scoring, the audit insert, the publish and the commit.
    public func process(_ message: IncomingMessage) async -> RequestFlow.Outcome {
        await withSpan("chaperone.request", context: RequestTracing.context(of: message), ofKind: .consumer) { span in
            span.attributes["messaging.system"] = "kafka"
            span.attributes["messaging.destination.name"] = message.source.topic
            span.attributes["messaging.kafka.destination.partition"] = Int(message.source.partition)
            span.attributes["messaging.kafka.message.offset"] = Int(message.source.offset)
            let outcome = await processInSpan(message)
            switch outcome {
            case .delivered(let record, let republished):
                span.attributes["chaperone.request_id"] = record.requestID
                span.attributes["chaperone.decision"] = record.decision.rawValue
                span.attributes["chaperone.republished"] = republished
            case .handedBack(let reason):
                span.attributes["chaperone.handed_back"] = reason
            }
            return outcome
        }
    }

    private func processInSpan(_ message: IncomingMessage) async -> RequestFlow.Outcome {
        let clock = ContinuousClock()
        let requestSHA256 = SHA256.hex(message.value)
        let transactional = components.publisher.isTransactional
        health.requestStarted(at: message.source)
        metrics.inFlight(since: Date().timeIntervalSince1970)
        defer {
            health.requestEnded()
            metrics.inFlight(since: nil)
        }

        let decodeStart = clock.now
        var tenant = "unknown"
        var requestID: String?
        var flow: RequestFlow
        let decoded = await withSpan("chaperone.validate") { span in
            let decoded = validator.decode(message.value)
            if case .failure(let rejection) = decoded { span.attributes["chaperone.rejection"] = rejection.code.rawValue }
            return decoded
        }
        let decodeTime = clock.now - decodeStart
        metrics.stage(.decode, decodeTime)
        switch decoded {
        case .success(let request):
            tenant = request.tenant
            requestID = request.requestID
            logger.info("request started", metadata: [
                "request_id": "\(request.requestID)", "source": "\(Self.describe(message.source))",
            ])
            flow = RequestFlow(.valid(request), source: message.source, transactional: transactional, requestSHA256: requestSHA256)
        case .failure(let rejection):
            logger.info("request rejected", metadata: [
                "reason": "\(rejection.code.rawValue)", "request_id": "\(rejection.requestID ?? "-")",
                "source": "\(Self.describe(message.source))",
            ])
            flow = RequestFlow(.rejected(rejectionEntry(rejection, message: message, tenant: nil)), source: message.source,
                               transactional: transactional, requestSHA256: requestSHA256)
        }
        // Starts of generation counted durably in this delivery (poison quarantine).
        var started = 0

        var generationAttempts = 0
        var fairnessAssignment: FairnessAssignment?
        // Asked once per delivery: a refusal is not asked again on the next generation attempt.
        var fairnessAsked = false
        var fallback = Fallback.none
        var unpublishableSent = false
        while true {
            if Task.isCancelled, !isFinished(flow) {
                flow.handle(.handBack(reason: "partition revoked or shutdown"))
            }
            switch flow.action {
            case .finish(let outcome):
                if case .handedBack = outcome, started > 0 {
                    // Not a crash: take the start back so a healthy message is never quarantined.
                    try? await components.audit.retractProcessingStart(of: message.source)
                }
                record(outcome, tenant: tenant, source: message.source, requestID: requestID)
                return outcome
            case .lookUp(let requestID):
                let lookup = await withSpan("chaperone.audit_lookup") { _ in
                    await retryTransient("audit", { try await self.components.audit.decision(requestID: requestID) })
                }
                switch lookup {
                case nil:
                    flow.handle(.handBack(reason: "cancelled while looking up the audit row"))
                case .success(let found)?:
                    flow.handle(.lookedUp(found))
                case .failure(let permanent)?:
                    flow = rejectedFlow(for: permanent, message: message, requestSHA256: requestSHA256, tenant: nil)
                }
            case .rejectDuplicate(let first):
                logger.warning("request id reused by a different message", metadata: [
                    "request_id": "\(first.requestID)", "source": "\(Self.describe(message.source))",
                ])
                metrics.duplicateRequestID()
                let rejection = RequestRejection(
                    .duplicateRequestID,
                    "request_id '\(first.requestID)' already belongs to another message (read from \(Self.describe(first.source))); "
                        + "this message has different bytes and is recorded under its position",
                    requestID: first.requestID)
                let auditID = syntheticID(message)
                var entry = rejectionEntry(rejection, message: message, tenant: nil, auditID: auditID)
                entry.publishedPayload = envelopePayload(rejection, message: message, auditID: auditID) { envelope in
                    envelope.firstRequest = DLQEnvelope.FirstRequest(
                        auditID: first.requestID, source: first.source)
                }
                flow = RequestFlow(.rejected(entry), source: message.source, transactional: transactional, requestSHA256: requestSHA256)
            case .generate(let request):
                if generationAttempts == 0 {
                    // Poison quarantine: generation is where a message can kill the process
                    // (memory, a trap in a kernel), so its start is counted durably first.
                    switch await retryTransient("audit", { try await self.components.audit.recordProcessingStart(of: message.source, workerID: self.settings.workerID) }) {
                    case nil:
                        flow.handle(.handBack(reason: "cancelled before generating"))
                        continue
                    case .failure?:
                        break  // the count cannot be kept for this position; generate unguarded
                    case .success(let count)?:
                        started = count
                        if count >= settings.maxAttempts {
                            flow = poisonFlow(message, count: count, requestSHA256: requestSHA256)
                            continue
                        }
                    }
                }
                generationAttempts += 1
                if !fairnessAsked, let target = request.mitigations.fairness, let streams = components.fairness {
                    switch await retryTransient("audit", { try await streams.assignFairness(requestID: request.requestID, tenant: request.tenant, target: target) }) {
                    case nil:
                        flow.handle(.handBack(reason: "cancelled while assigning the fairness value"))
                        continue
                    case .success(let assignment)?:
                        fairnessAssignment = assignment
                        fairnessAsked = true
                    case .failure(let error)?:
                        fairnessAsked = true
                        // The stream cannot hold this request (the database refused its text):
                        // the value is drawn from the seed instead, as the result records.
                        logger.warning("fairness stream refused the request; drawing from the seed", metadata: [
                            "request_id": "\(request.requestID)", "error": "\(error)",
                        ])
                    }
                }
                do {
                    var entry = try await produce(request, message: message, decodeTime: decodeTime, fairness: fairnessAssignment)
                    entry.requestSHA256 = requestSHA256
                    flow.handle(.produced(entry))
                } catch is CancellationError {
                    flow.handle(.handBack(reason: "cancelled while generating"))
                } catch {
                    if Task.isCancelled { continue }
                    if case .permanent = FailureKind.of(error) {
                        logger.error("request cannot be completed", metadata: ["request_id": "\(request.requestID)", "error": "\(error)"])
                        flow = rejectedFlow(for: error, message: message, requestSHA256: requestSHA256, tenant: request.tenant, request: request)
                        continue
                    }
                    logger.error("generation failed", metadata: [
                        "request_id": "\(request.requestID)", "attempt": "\(generationAttempts)", "error": "\(error)",
                    ])
                    if generationAttempts >= settings.maxGenerationAttempts {
                        let rejection = RequestRejection(
                            .generationFailed, "generation or scoring failed \(generationAttempts) times: \(Self.safeReason(error))",
                            requestID: request.requestID)
                        flow = RequestFlow(.rejected(rejectionEntry(rejection, message: message, tenant: request.tenant, request: request)),
                                           source: message.source, transactional: transactional, requestSHA256: requestSHA256)
                    }
                }
            case .record(let entry):
                let start = clock.now
                let insert = await withSpan("chaperone.audit_insert") { span in
                    span.attributes["chaperone.decision"] = entry.decision.rawValue
                    return await retryTransient("audit", { try await self.components.audit.insertDecision(entry) }, onError: { self.metrics.auditWriteFailed() })
                }
                switch insert {
                case nil:
                    continue
                case .success(let outcome)?:
                    metrics.stage(.auditInsert, clock.now - start)
                    if started > 0 {
                        // The row now answers every redelivery: the start count has done its job.
                        try? await components.audit.clearProcessingStarts(of: message.source)
                        started = 0
                    }
                    flow.handle(.recorded(outcome))
                case .failure(let error)?:
                    metrics.unstorable()
                    guard let next = storableFallback(after: error, entry: entry, message: message, fallback: &fallback) else {
                        // Even worker-made text was refused: the schema itself is wrong. Retry as
                        // a deployment fault (not ready) rather than lose the message.
                        await pauseAfterRefusal("audit", error)
                        continue
                    }
                    flow = RequestFlow(.rejected(next), source: message.source, transactional: transactional, requestSHA256: requestSHA256)
                }
            case .publish(let stored):
                let start = clock.now
                let publish = await withSpan("chaperone.publish", ofKind: .producer) { span in
                    span.attributes["messaging.destination.name"] = stored.publishedTopic
                    return await retryTransient("broker", {
                        try await self.components.publisher.publish(topic: stored.publishedTopic, key: stored.publishedKey, payload: stored.publishedPayload)
                    })
                }
                switch publish {
                case nil: continue
                case .success?:
                    metrics.stage(.publish, clock.now - start)
                    flow.handle(.published)
                case .failure(let error)?:
                    if unpublishableSent { await pauseAfterRefusal("broker", error); continue }
                    unpublishableSent = true
                    flow = unpublishableFlow(stored, error: error, message: message, requestSHA256: requestSHA256)
                }
            case .commit(let position):
                let start = clock.now
                let commit = await withSpan("chaperone.commit") { _ in
                    await retryTransient("broker", { try await self.components.publisher.commit(position) })
                }
                guard case .success? = commit else { continue }
                metrics.stage(.commit, clock.now - start)
                flow.handle(.committed)
            case .publishAndCommit(let stored, let position):
                let start = clock.now
                let publishAndCommit = await withSpan("chaperone.publish_and_commit", ofKind: .producer) { span in
                    span.attributes["messaging.destination.name"] = stored.publishedTopic
                    return await retryTransient("broker", {
                        try await self.components.publisher.publishAndCommit(
                            topic: stored.publishedTopic, key: stored.publishedKey, payload: stored.publishedPayload, offset: position)
                    })
                }
                switch publishAndCommit {
                case nil: continue
                case .success?:
                    metrics.stage(.publish, clock.now - start)
                    flow.handle(.committed)
                case .failure(let error)?:
                    if unpublishableSent { await pauseAfterRefusal("broker", error); continue }
                    unpublishableSent = true
                    flow = unpublishableFlow(stored, error: error, message: message, requestSHA256: requestSHA256)
                }
            }
        }
    }

    /// After a refusal no fallback is left for: the deployment is wrong (the dead-letter topic
    /// refuses an envelope, the schema a minimal row). Reported as unavailable and retried.
    private func pauseAfterRefusal(_ dependency: String, _ error: any Error) async {
        logger.critical("\(dependency) refuses even the fallback for this message; retrying", metadata: ["error": "\(error)"])
        health.markUnavailable(dependency, reason: Self.safeReason(error))
        try? await Task.sleep(for: settings.backoff.maximum)
    }

    private func isFinished(_ flow: RequestFlow) -> Bool {
        if case .done = flow.state { return true }
        return false
    }

    /// Counts and logs how a request ended. A hand-back names the request and its position,
    /// so an operator can tell which partition's rebalance (or which shutdown) cancelled it.
    private func record(_ outcome: RequestFlow.Outcome, tenant: String, source: SourcePosition, requestID: String?) {
        switch outcome {
        case .delivered(let stored, let republished):
            if republished { metrics.redeliveryRepublished() }
            if stored.publishedTopic == settings.topics.deadLetters { metrics.deadLettered() }
            metrics.requestDelivered(decision: stored.decision.rawValue, tenant: tenant)
            logger.info("request delivered", metadata: [
                "request_id": "\(stored.requestID)", "decision": "\(stored.decision)", "republished": "\(republished)",
            ])
        case .handedBack(let reason):
            metrics.requestHandedBack()
            logger.notice("request handed back", metadata: [
                "reason": "\(reason)", "request_id": "\(requestID ?? "-")",
                "source": "\(source.topic):\(source.partition):\(source.offset)",
            ])
        }
    }

    /// Runs `operation` until it succeeds or fails permanently for this message, retrying
    /// transient failures with backoff and marking `dependency` unavailable meanwhile. Returns
    /// nil only when the task is cancelled.
    fileprivate func retryTransient<T: Sendable>(
        _ dependency: String, _ operation: @Sendable () async throws -> T, onError: () -> Void = {}
    ) async -> Result<T, any Error>? {
        var backoff = settings.backoff
        while !Task.isCancelled {
            do {
                let value = try await operation()
                health.markAvailable(dependency)
                return .success(value)
            } catch {
                onError()
                if case .permanent = FailureKind.of(error) {
                    // The dependency answered; it refuses this message's data.
                    health.markAvailable(dependency)
                    logger.warning("\(dependency) refuses this message for good", metadata: ["error": "\(error)"])
                    return .failure(error)
                }
                health.markUnavailable(dependency, reason: Self.safeReason(error))
                health.noteProgress()  // waiting on a dependency is not a stall of the worker
                let delay = backoff.nextDelay()
                logger.warning("\(dependency) unavailable, retrying", metadata: ["error": "\(error)", "retry_in": "\(delay)"])
                do { try await Task.sleep(for: delay) } catch { return nil }
            }
        }
        return nil
    }

    /// An error description for `/ready`: the error's own description, cut short.
    static func safeReason(_ error: any Error) -> String {
        String(String(describing: error).prefix(200))
    }

    static func describe(_ source: SourcePosition) -> String {
        "\(source.topic):\(source.partition):\(source.offset)"
    }

    private func syntheticID(_ message: IncomingMessage) -> String {
        message.source.syntheticRequestID
    }

    /// The flow of a message quarantined as poison: its generation started `count` times and
    /// never ended. Recorded under the synthetic id of its position, without generating.
    private func poisonFlow(_ message: IncomingMessage, count: Int, requestSHA256: String) -> RequestFlow {
        logger.error("poison message quarantined", metadata: ["source": "\(Self.describe(message.source))", "attempts": "\(count)"])
        metrics.poisonQuarantined()
        let rejection = RequestRejection(
            .poison, "generation of this message started \(count) times and never ended (limits.max_attempts is \(settings.maxAttempts)); it is not tried again")
        var entry = rejectionEntry(rejection, message: message, tenant: nil, auditID: syntheticID(message))
        entry.publishedPayload = envelopePayload(rejection, message: message, auditID: entry.requestID) { $0.attempts = count }
        return RequestFlow(.rejected(entry), source: message.source, transactional: components.publisher.isTransactional, requestSHA256: requestSHA256)
    }

    /// A new flow that ends the message as rejected after the permanent failure `error`.
    private func rejectedFlow(
        for error: any Error, message: IncomingMessage, requestSHA256: String, tenant: String?, request: GenerationRequest? = nil
    ) -> RequestFlow {
        let code: RejectionCode
        if case .permanent(let permanentCode) = FailureKind.of(error) { code = permanentCode } else { code = .generationFailed }
        let rejection = RequestRejection(code, Self.safeReason(error), requestID: request?.requestID)
        return RequestFlow(.rejected(rejectionEntry(rejection, message: message, tenant: tenant, request: request)),
                           source: message.source, transactional: components.publisher.isTransactional, requestSHA256: requestSHA256)
    }

    /// The next row to try after the database refused `entry` for its data: first the same
    /// outcome as a rejection with request text made storable (a rejection keeps its reasons;
    /// any other decision becomes `unstorable`), then a minimal rejection of worker-made text
    /// under the synthetic id. Nil when the minimal row was refused too.
    private func storableFallback(after error: any Error, entry: DecisionRecord, message: IncomingMessage, fallback: inout Fallback) -> DecisionRecord? {
        logger.error("the audit database refuses this message's row", metadata: [
            "request_id": "\(entry.requestID)", "source": "\(Self.describe(message.source))", "error": "\(error)",
        ])
        switch fallback {
        case .none:
            fallback = .storable
            var row = entry
            if entry.decision != .rejected {
                let rejection = RequestRejection(
                    .unstorable, "the audit database refused the \(entry.decision) row: \(Self.safeReason(error))", requestID: entry.requestID)
                row = rejectionEntry(rejection, message: message, tenant: entry.tenant, auditID: entry.requestID)
                row.prompt = entry.prompt
                row.negativePrompt = entry.negativePrompt
                row.attributesJSON = entry.attributesJSON
            }
            let (storable, changed) = row.storable()
            row = storable
            if !changed.isEmpty {
                row.reasonsJSON = Self.appending(
                    note: "text the database cannot hold was replaced with U+FFFD in: \(changed.joined(separator: ", ")); raw_request keeps the original bytes",
                    to: row.reasonsJSON)
            }
            row.requestSHA256 = entry.requestSHA256
            return row
        case .storable:
            fallback = .minimal
            let rejection = RequestRejection(.unstorable, "the audit database refused this message's row even with its text made storable: \(Self.safeReason(error))")
            var row = rejectionEntry(rejection, message: message, tenant: nil, auditID: syntheticID(message))
            row.requestSHA256 = entry.requestSHA256
            return row
        case .minimal:
            return nil
        }
    }

    /// After the broker refused the stored payload for good (it should never: the payload's
    /// size is checked before the row is written), the message still ends: a DLQ envelope
    /// `unpublishable` naming the stored row is published and committed. That envelope is not
    /// the row's payload, so it is logged as an invariant break.
    private func unpublishableFlow(_ stored: DecisionRecord, error: any Error, message: IncomingMessage, requestSHA256: String) -> RequestFlow {
        logger.critical("the broker refuses the stored payload for good; publishing an unpublishable envelope instead", metadata: [
            "request_id": "\(stored.requestID)", "error": "\(error)",
        ])
        metrics.unpublishable()
        let rejection = RequestRejection(
            .unpublishable, "the broker refused the stored \(stored.decision) payload of audit row '\(stored.requestID)': \(Self.safeReason(error))",
            requestID: stored.requestID)
        let payload = envelopePayload(rejection, message: message, auditID: stored.requestID) { _ in }
        var replacement = stored
        replacement.publishedTopic = settings.topics.deadLetters
        replacement.publishedPayload = payload
        replacement.requestSHA256 = requestSHA256
        replacement.source = message.source
        var flow = RequestFlow(.rejected(rejectionEntry(rejection, message: message, tenant: nil)), source: message.source,
                               transactional: components.publisher.isTransactional, requestSHA256: requestSHA256)
        flow.handle(.recorded(.alreadyPresent(replacement)))
        return flow
    }

    /// Keeps the generated image of a decision that withholds it, for reviewers. An unreachable
    /// database is waited for like the audit insert; an image the database refuses is logged and
    /// counted, and the decision goes on without it (the row still names the image's digest).
    private func keepWithheld(_ png: [UInt8], requestID: String) async throws {
        let sha = SHA256.hex(png)
        let audit = components.audit
        switch await retryTransient("audit", { try await audit.keepWithheldImage(sha256: sha, bytes: png) }) {
        case nil: throw CancellationError()
        case .success?: break
        case .failure(let error)?:
            metrics.withheldImageRefused()
            logger.error("the audit database refuses the withheld image; the decision is recorded without it", metadata: [
                "request_id": "\(requestID)", "image_sha256": "\(sha)", "error": "\(Self.safeReason(error))",
            ])
        }
    }

    /// The image store behind the processor's retries: an unreachable store is waited for (not
    /// ready meanwhile) instead of failing the generation.
    private struct RetryingImageStore: ImageStoring {
        let base: any ImageStoring
        let processor: RequestProcessor

        func store(png: [UInt8], sha256: String) async throws -> String {
            switch await processor.retryTransient("image-store", { try await base.store(png: png, sha256: sha256) }) {
            case nil: throw CancellationError()
            case .success(let reference)?: return reference
            case .failure(let error)?: throw MessageFailure(.unpublishable, "the image store refuses the image: \(RequestProcessor.safeReason(error))")
            }
        }
    }

    static func appending(note: String, to reasonsJSON: String) -> String {
        struct Note: Encodable { var code = "sanitized"; var message: String }
        let noteJSON = json(Note(message: note))
        let trimmed = reasonsJSON.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("["), trimmed.hasSuffix("]") else { return "[\(noteJSON)]" }
        let inner = trimmed.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
        return inner.isEmpty ? "[\(noteJSON)]" : "[\(inner),\(noteJSON)]"
    }

    // MARK: - Building rows and payloads

    /// A generation logs its progress every this many steps (and at its last step).
    static let stepLogInterval = 5

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func json<T: Encodable>(_ value: T) -> String {
        (try? String(decoding: encoder.encode(value), as: UTF8.self)) ?? "null"
    }

    /// Generates, scores and decides `request` (escalating when the tenant's policy says so),
    /// and builds its audit row with the result payload (see ``ModeratedProduction``).
    private func produce(
        _ request: GenerationRequest, message: IncomingMessage, decodeTime: Duration, fairness: FairnessAssignment?
    ) async throws -> DecisionRecord {
        let health = self.health
        let logger = self.logger
        let metrics = self.metrics
        let requestID = request.requestID
        let outcome = try await ModeratedProduction(
            generator: components.generator, scorer: components.scorer, policy: components.policy, censor: components.censor,
            mitigationPolicy: settings.mitigationPolicy,
            progress: { progress in
                health.noteStep(progress.step, of: progress.totalSteps)
                metrics.generationStep(progress.step)
                if progress.step == progress.totalSteps || progress.step % Self.stepLogInterval == 0 {
                    logger.info("generation progress", metadata: [
                        "request_id": "\(requestID)", "step": "\(progress.step)", "steps": "\(progress.totalSteps)",
                    ])
                }
            }
        ).produce(request, fairnessAssignment: fairness)
        metrics.stage(.generate, outcome.generateTime)
        metrics.stage(.score, outcome.scoreTime)
        moderationMetrics.record(tries: outcome.tries, escalating: outcome.escalates)
        if settings.keepWithheldImages, outcome.decision != .allow {
            try await keepWithheld(outcome.image.png, requestID: requestID)
        }
        return try await ModeratedResult(
            settings: settings, imageStore: components.imageStore.map { RetryingImageStore(base: $0, processor: self) }
        ).auditRow(outcome, request: request, source: message.source, decodeTime: decodeTime)
    }

    /// The audit row and DLQ envelope of a rejected message, stored under `auditID` (default:
    /// the request id when readable, else the synthetic id of the message's position).
    func rejectionEntry(
        _ rejection: RequestRejection, message: IncomingMessage, tenant: String?, request: GenerationRequest? = nil, auditID: String? = nil
    ) -> DecisionRecord {
        let auditID = auditID ?? rejection.requestID ?? syntheticID(message)
        let payload = envelopePayload(rejection, message: message, auditID: auditID) { _ in }
        struct Reason: Encodable { var code: String; var message: String }
        return DecisionRecord(
            requestID: auditID, tenant: tenant ?? request?.tenant, decision: .rejected,
            reasonsJSON: Self.json([Reason(code: rejection.code.rawValue, message: rejection.message)]),
            prompt: request?.prompt, negativePrompt: request?.negativePrompt, mitigationsJSON: "{}", scoresJSON: "[]",
            imageSHA256: nil, modelSHA256: nil, overlaySHA256: nil, workerID: settings.workerID, source: message.source,
            publishedTopic: settings.topics.deadLetters, publishedPayload: payload, rawRequest: message.value,
            requestSHA256: SHA256.hex(message.value))
    }

    /// The DLQ envelope of `rejection`, encoded; `customize` adds the fields of its kind. The
    /// original is cut so the envelope fits the producer's message size.
    func envelopePayload(
        _ rejection: RequestRejection, message: IncomingMessage, auditID: String, customize: (inout DLQEnvelope) -> Void
    ) -> [UInt8] {
        var envelope = DLQEnvelope(
            requestID: rejection.requestID, auditID: auditID, reasonCode: rejection.code,
            reasonMessage: String(rejection.message.prefix(2000)),
            originalValue: "", originalKey: message.key.map { Data($0.prefix(4096)).base64EncodedString() },
            source: message.source, workerID: settings.workerID, rejectedAt: Timestamp.rfc3339())
        customize(&envelope)
        // Base64 grows the original by 4/3; keep room for the rest of the envelope.
        let room = (settings.messageMaxBytes - auditID.utf8.count - Self.messageOverheadBytes - 16_384) / 4 * 3
        envelope.setOriginal(message.value, maximumBytes: max(0, min(DLQEnvelope.maximumOriginalBytes, room)))
        return (try? Self.encoder.encode(envelope)).map(Array.init) ?? []
    }
}
