import Contracts
import Foundation
import Logging

/// Runs one request through ``RequestFlow`` against the real (or test) dependencies.
///
/// Failures of the audit log or the broker are retried with ``Backoff`` until they succeed,
/// the request is handed back (task cancellation), or — for generation only — the attempts
/// are used up, which turns the request into a `generation_failed` rejection. While retrying,
/// ``WorkerHealth`` reports the dependency as unavailable, so `/ready` says not ready.
public final class RequestProcessor: Sendable {
    public struct Settings: Sendable {
        public var workerID: String
        public var topics: WorkerTopics
        public var limits: RequestLimits
        public var mitigationPolicy: MitigationPolicy
        /// Attempts at generating and scoring one request before it is dead-lettered. Default: 3.
        public var maxGenerationAttempts: Int
        public var backoff: Backoff

        public init(
            workerID: String, topics: WorkerTopics = WorkerTopics(), limits: RequestLimits = RequestLimits(),
            mitigationPolicy: MitigationPolicy = MitigationPolicy(), maxGenerationAttempts: Int = 3, backoff: Backoff = Backoff()
        ) {
            self.workerID = workerID
            self.topics = topics
            self.limits = limits
            self.mitigationPolicy = mitigationPolicy
            self.maxGenerationAttempts = maxGenerationAttempts
            self.backoff = backoff
        }
    }

    /// The parts that do the work.
    public struct Components: Sendable {
        public var generator: any ImageGenerating
        public var scorer: any RequestScoring
        public var policy: any DecisionPolicy
        public var censor: any ImageCensoring
        public var audit: any AuditLog
        public var publisher: any ResultPublishing

        public init(
            generator: any ImageGenerating, scorer: any RequestScoring, policy: any DecisionPolicy,
            censor: any ImageCensoring, audit: any AuditLog, publisher: any ResultPublishing
        ) {
            self.generator = generator
            self.scorer = scorer
            self.policy = policy
            self.censor = censor
            self.audit = audit
            self.publisher = publisher
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

    /// Processes `message` to the end (delivered and committed) or until handed back by task
    /// cancellation. Never throws: every failure is retried or turned into a rejection.
    public func process(_ message: IncomingMessage) async -> RequestFlow.Outcome {
        let clock = ContinuousClock()
        let decodeStart = clock.now
        let decoded = validator.decode(message.value)
        let decodeTime = clock.now - decodeStart
        metrics.stage(.decode, decodeTime)

        let tenant = (try? decoded.get())?.tenant ?? "unknown"
        var flow: RequestFlow
        switch decoded {
        case .success(let request):
            logger.info("request started", metadata: [
                "request_id": "\(request.requestID)",
                "source": "\(message.source.topic):\(message.source.partition):\(message.source.offset)",
            ])
            flow = RequestFlow(.valid(request), source: message.source, transactional: components.publisher.isTransactional)
        case .failure(let rejection):
            logger.info("request rejected", metadata: [
                "reason": "\(rejection.code.rawValue)", "request_id": "\(rejection.requestID ?? "-")",
                "source": "\(message.source.topic):\(message.source.partition):\(message.source.offset)",
            ])
            flow = RequestFlow(.rejected(rejectionEntry(rejection, message: message, tenant: nil)), source: message.source,
                               transactional: components.publisher.isTransactional)
        }

        var generationAttempts = 0
        while true {
            if Task.isCancelled, !isFinished(flow) {
                flow.handle(.handBack(reason: "partition revoked or shutdown"))
            }
            switch flow.action {
            case .finish(let outcome):
                record(outcome, tenant: tenant, source: message.source, requestID: (try? decoded.get())?.requestID)
                return outcome
            case .lookUp(let requestID):
                guard let found = await retrying("audit", { try await self.components.audit.find(requestID: requestID) }) else {
                    flow.handle(.handBack(reason: "cancelled while looking up the audit row"))
                    continue
                }
                flow.handle(.lookedUp(found))
            case .generate(let request):
                generationAttempts += 1
                do {
                    let entry = try await produce(request, message: message, decodeTime: decodeTime)
                    flow.handle(.produced(entry))
                } catch is CancellationError {
                    flow.handle(.handBack(reason: "cancelled while generating"))
                } catch {
                    if Task.isCancelled { continue }
                    logger.error("generation failed", metadata: [
                        "request_id": "\(request.requestID)", "attempt": "\(generationAttempts)", "error": "\(error)",
                    ])
                    if generationAttempts >= settings.maxGenerationAttempts {
                        let rejection = RequestRejection(
                            .generationFailed, "generation or scoring failed \(generationAttempts) times: \(error)",
                            requestID: request.requestID)
                        flow = RequestFlow(.rejected(rejectionEntry(rejection, message: message, tenant: request.tenant, request: request)),
                                           source: message.source, transactional: components.publisher.isTransactional)
                    }
                }
            case .record(let entry):
                let start = clock.now
                guard let outcome = await retrying("audit", { try await self.components.audit.insert(entry) }, onError: { self.metrics.auditWriteFailed() }) else {
                    continue
                }
                metrics.stage(.auditInsert, clock.now - start)
                flow.handle(.recorded(outcome))
            case .publish(let stored):
                let start = clock.now
                guard await retrying("broker", {
                    try await self.components.publisher.publish(topic: stored.publishedTopic, key: stored.publishedKey, payload: stored.payload)
                }) != nil else { continue }
                metrics.stage(.publish, clock.now - start)
                flow.handle(.published)
            case .commit(let position):
                let start = clock.now
                guard await retrying("broker", { try await self.components.publisher.commit(position) }) != nil else { continue }
                metrics.stage(.commit, clock.now - start)
                flow.handle(.committed)
            case .publishAndCommit(let stored, let position):
                let start = clock.now
                guard await retrying("broker", {
                    try await self.components.publisher.publishAndCommit(
                        topic: stored.publishedTopic, key: stored.publishedKey, payload: stored.payload, offset: position)
                }) != nil else { continue }
                metrics.stage(.publish, clock.now - start)
                flow.handle(.committed)
            }
        }
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
            metrics.requestDelivered(decision: stored.decision, tenant: tenant)
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

    /// Runs `operation` until it succeeds, marking `dependency` unavailable meanwhile.
    /// Returns nil only when the task is cancelled.
    private func retrying<T: Sendable>(
        _ dependency: String, _ operation: @Sendable () async throws -> T, onError: () -> Void = {}
    ) async -> T? {
        var backoff = settings.backoff
        while !Task.isCancelled {
            do {
                let value = try await operation()
                health.markAvailable(dependency)
                return value
            } catch {
                onError()
                health.markUnavailable(dependency, reason: Self.safeReason(error))
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

    // MARK: - Building rows and payloads

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    private static func json<T: Encodable>(_ value: T) -> String {
        (try? String(decoding: encoder.encode(value), as: UTF8.self)) ?? "null"
    }

    /// Generates, scores and decides `request` (escalating when the tenant's policy says so),
    /// and builds its audit row with the result payload (see ``ModeratedProduction``).
    private func produce(_ request: GenerationRequest, message: IncomingMessage, decodeTime: Duration) async throws -> AuditRow {
        try await ModeratedProduction(
            generator: components.generator, scorer: components.scorer, policy: components.policy, censor: components.censor,
            settings: settings, metrics: metrics, moderationMetrics: moderationMetrics
        ).produce(request, source: message.source, decodeTime: decodeTime)
    }

    /// The audit row and DLQ envelope of a rejected message.
    func rejectionEntry(_ rejection: RequestRejection, message: IncomingMessage, tenant: String?, request: GenerationRequest? = nil) -> AuditRow {
        let auditID = rejection.requestID
            ?? DLQEnvelope.syntheticRequestID(topic: message.source.topic, partition: message.source.partition, offset: message.source.offset)
        var envelope = DLQEnvelope(
            requestID: rejection.requestID, auditID: auditID, reasonCode: rejection.code, reasonMessage: rejection.message,
            originalValue: "", originalKey: message.key.map { Data($0).base64EncodedString() },
            source: message.source, workerID: settings.workerID, rejectedAt: Timestamp.rfc3339())
        envelope.setOriginal(message.value)  // cut when huge, so the envelope fits a Kafka message
        let payload = (try? Self.encoder.encode(envelope)).map(Array.init) ?? []
        struct Reason: Encodable { var code: String; var message: String }
        return AuditRow(
            requestID: auditID, tenant: tenant ?? request?.tenant, decision: "rejected",
            reasonsJSON: Self.json([Reason(code: rejection.code.rawValue, message: rejection.message)]),
            prompt: request?.prompt, negativePrompt: request?.negativePrompt, mitigationsJSON: "{}", scoresJSON: "[]",
            imageSHA256: nil, modelSHA256: nil, overlaySHA256: nil, workerID: settings.workerID, source: message.source,
            publishedTopic: settings.topics.deadLetters, publishedKey: auditID, payload: payload, rawRequest: message.value)
    }
}

extension Duration {
    /// The duration in milliseconds, as a Double.
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
