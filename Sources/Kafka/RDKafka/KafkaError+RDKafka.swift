import CRdKafka

extension KafkaError {
    /// An error from a librdkafka response code.
    init(
        rdKafkaCode code: rd_kafka_resp_err_t, context: String, reason: String? = nil,
        file: String = #fileID, line: UInt = #line
    ) {
        let retriable: Bool
        switch code {
        case RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__TRANSPORT,
            RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_NOT_COORDINATOR, RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
            RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS, RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS,
            RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
            retriable = true
        default:
            retriable = false
        }
        self.init(
            code: Code(rawValue: code.rawValue),
            name: String(cString: rd_kafka_err2name(code)),
            reason: reason ?? String(cString: rd_kafka_err2str(code)),
            context: context,
            isRetriable: retriable,
            isFatal: code == RD_KAFKA_RESP_ERR__FATAL,
            file: file, line: line
        )
    }

    /// An error from a librdkafka error object; destroys the object.
    init(consuming error: OpaquePointer, context: String, file: String = #fileID, line: UInt = #line) {
        defer { rd_kafka_error_destroy(error) }
        self.init(
            code: Code(rawValue: rd_kafka_error_code(error).rawValue),
            name: String(cString: rd_kafka_error_name(error)),
            reason: String(cString: rd_kafka_error_string(error)),
            context: context,
            isRetriable: rd_kafka_error_is_retriable(error) != 0,
            isFatal: rd_kafka_error_is_fatal(error) != 0,
            transactionRequiresAbort: rd_kafka_error_txn_requires_abort(error) != 0,
            file: file, line: line
        )
    }

    /// The client's fatal error, when it has raised one.
    static func fatalError(of handle: OpaquePointer, context: String, file: String = #fileID, line: UInt = #line) -> KafkaError? {
        var reason = [CChar](repeating: 0, count: 512)
        let code = rd_kafka_fatal_error(handle, &reason, reason.count)
        guard code != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        var error = KafkaError(rdKafkaCode: code, context: context, reason: String(cBuffer: reason), file: file, line: line)
        error.isFatal = true
        error.isRetriable = false
        return error
    }

    /// Throws if `code` is an error.
    static func check(
        _ code: rd_kafka_resp_err_t, context: @autoclosure () -> String, file: String = #fileID, line: UInt = #line
    ) throws(KafkaError) {
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(rdKafkaCode: code, context: context(), file: file, line: line)
        }
    }

    /// Throws if `error` is set (and destroys it).
    static func check(
        _ error: OpaquePointer?, context: @autoclosure () -> String, file: String = #fileID, line: UInt = #line
    ) throws(KafkaError) {
        if let error {
            throw KafkaError(consuming: error, context: context(), file: file, line: line)
        }
    }

    /// A configuration property librdkafka rejected.
    static func configuration(
        key: String, unknown: Bool, reason: String, file: String = #fileID, line: UInt = #line
    ) -> KafkaError {
        let shownReason: String
        if unknown {
            shownReason = "unknown configuration property"
        } else if RDKafkaConfig.isSensitive(key) {
            shownReason = "invalid value (not shown: sensitive property)"
        } else {
            shownReason = reason
        }
        return KafkaError(
            code: .invalidArgument, name: "_INVALID_ARG", reason: shownReason,
            context: "configuration property '\(key)'", file: file, line: line
        )
    }
}
