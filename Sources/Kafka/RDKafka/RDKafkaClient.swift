import CRdKafka
import Logging
import Synchronization

/// What a consumer's rebalance callback records, read by `RDKafkaClient.pollConsumer`.
struct RDKafkaConsumerCallbackState: Sendable {
    var pause = ConsumerPauseState()
    /// Events raised inside librdkafka callbacks, returned by the next polls in order.
    var pendingEvents: [KafkaConsumerEvent] = []
    /// True when the group uses the cooperative (incremental) rebalance protocol.
    var cooperative = false
}

/// Context that librdkafka hands back to the callbacks (as the handle's opaque pointer).
final class RDKafkaCallbackContext: Sendable {
    let logger: Logger
    let consumerState = Mutex(RDKafkaConsumerCallbackState())

    init(logger: Logger) {
        self.logger = logger
    }

    static func from(_ opaque: UnsafeMutableRawPointer?) -> RDKafkaCallbackContext? {
        guard let opaque else { return nil }
        return Unmanaged<RDKafkaCallbackContext>.fromOpaque(opaque).takeUnretainedValue()
    }
}

/// One librdkafka client handle (`rd_kafka_t`): producer, consumer or admin.
///
/// Owns the handle and destroys it in `deinit`. librdkafka handles are thread-safe, which is
/// what makes this class `Sendable`; calls that block are made by the owners of this class on
/// dedicated threads or queues.
final class RDKafkaClient: @unchecked Sendable {
    enum Kind: Sendable {
        case producer
        case consumer
    }

    let handle: OpaquePointer
    let kind: Kind
    private let context: Unmanaged<RDKafkaCallbackContext>

    var logger: Logger { context.takeUnretainedValue().logger }
    var callbackContext: RDKafkaCallbackContext { context.takeUnretainedValue() }

    private init(handle: OpaquePointer, kind: Kind, context: Unmanaged<RDKafkaCallbackContext>) {
        self.handle = handle
        self.kind = kind
        self.context = context
    }

    deinit {
        rd_kafka_destroy(handle)
        context.release()
    }

    /// Creates a client; a bad property or combination of properties is a clear error.
    static func make(
        kind: Kind,
        properties: [(key: String, value: String)],
        logger: Logger,
        deliveryReports: Bool = false,
        rebalanceEvents: Bool = false
    ) throws(KafkaError) -> RDKafkaClient {
        let conf = try RDKafkaConfig.make(properties)
        let context = Unmanaged.passRetained(RDKafkaCallbackContext(logger: logger))
        rd_kafka_conf_set_opaque(conf, context.toOpaque())
        rd_kafka_conf_set_log_cb(conf, rdKafkaLogCallback)
        if kind == .producer {
            rd_kafka_conf_set_error_cb(conf, rdKafkaErrorCallback)
        }
        if deliveryReports {
            rd_kafka_conf_set_dr_msg_cb(conf, rdKafkaDeliveryCallback)
        }
        if rebalanceEvents {
            rd_kafka_conf_set_rebalance_cb(conf, rdKafkaRebalanceCallback)
        }
        var errstr = [CChar](repeating: 0, count: 512)
        let type = kind == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER
        guard let handle = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            // librdkafka takes ownership of the configuration only on success.
            rd_kafka_conf_destroy(conf)
            context.release()
            throw KafkaError.local(
                .invalidArgument, name: "_INVALID_ARG", reason: String(cBuffer: errstr),
                context: "creating the \(kind) client (configuration)"
            )
        }
        return RDKafkaClient(handle: handle, kind: kind, context: context)
    }

    /// Serves queued callbacks (delivery reports, errors, logs) for up to `timeoutMilliseconds`.
    /// Blocks: call from a dedicated thread.
    func poll(timeoutMilliseconds: Int32) {
        rd_kafka_poll(handle, timeoutMilliseconds)
    }

    /// The fatal error raised by this client, if any.
    func fatalError(context: String) -> KafkaError? {
        KafkaError.fatalError(of: handle, context: context)
    }
}

// MARK: - Callbacks (plain C functions: no captures, state comes through the opaque pointer)

private let rdKafkaLogCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    handle, level, facility, message in
    guard let handle, let context = RDKafkaCallbackContext.from(rd_kafka_opaque(handle)) else { return }
    let logLevel: Logger.Level
    switch level {
    case ...2: logLevel = .critical
    case 3: logLevel = .error
    case 4: logLevel = .warning
    case 5, 6: logLevel = .info
    default: logLevel = .debug
    }
    context.logger.log(
        level: logLevel,
        "\(message.map { String(cString: $0) } ?? "")",
        metadata: ["rdkafka.facility": "\(facility.map { String(cString: $0) } ?? "")"]
    )
}

private let rdKafkaErrorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = {
    _, code, reason, opaque in
    guard let context = RDKafkaCallbackContext.from(opaque) else { return }
    let name = String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(rawValue: code)))
    context.logger.warning(
        "librdkafka client error",
        metadata: ["rdkafka.error": "\(name)", "rdkafka.reason": "\(reason.map { String(cString: $0) } ?? "")"]
    )
}
