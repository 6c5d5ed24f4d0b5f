import CRdKafka
import Foundation

let rdKafkaRebalanceCallback: @convention(c) (
    OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?
) -> Void = { handle, err, list, opaque in
    guard let handle, let context = RDKafkaCallbackContext.from(opaque) else { return }
    let cooperative = String(cString: rd_kafka_rebalance_protocol(handle)) == "COOPERATIVE"
    let partitions = RDKafkaTopicPartitionList.readPartitions(list)
    var event: KafkaConsumerEvent
    switch err {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        var failure: KafkaError?
        if cooperative {
            if let error = rd_kafka_incremental_assign(handle, list) {
                failure = KafkaError(consuming: error, context: "rebalance: incremental assign")
            }
        } else {
            let code = rd_kafka_assign(handle, list)
            if code != RD_KAFKA_RESP_ERR_NO_ERROR {
                failure = KafkaError(rdKafkaCode: code, context: "rebalance: assign")
            }
        }
        // librdkafka keeps an application pause across revocation and reassignment, so set
        // every assigned partition's pause to the application's intent now, both ways (a resume
        // of a partition that is not paused changes nothing).
        let (toPause, toResume) = context.consumerState.withLock {
            ($0.pause.partitionsToPause(afterAssigning: partitions), $0.pause.partitionsToResume(afterAssigning: partitions))
        }
        for (subset, pause) in [(toPause, true), (toResume, false)] where !subset.isEmpty {
            let list = RDKafkaTopicPartitionList.make(subset)
            let code = pause ? rd_kafka_pause_partitions(handle, list) : rd_kafka_resume_partitions(handle, list)
            rd_kafka_topic_partition_list_destroy(list)
            if code != RD_KAFKA_RESP_ERR_NO_ERROR {
                context.logger.warning("\(pause ? "pause" : "resume") after assignment failed", metadata: [
                    "kafka.partitions": "\(subset)", "rdkafka.error": "\(String(cString: rd_kafka_err2name(code)))",
                ])
            }
        }
        event = failure.map { .error($0) } ?? .partitionsAssigned(partitions)
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        let lost = rd_kafka_assignment_lost(handle) != 0
        if cooperative {
            if let error = rd_kafka_incremental_unassign(handle, list) {
                rd_kafka_error_destroy(error)
            }
        } else {
            rd_kafka_assign(handle, nil)
        }
        event = .partitionsRevoked(partitions, lost: lost)
    default:
        rd_kafka_assign(handle, nil)
        event = .error(KafkaError(rdKafkaCode: err, context: "rebalance"))
    }
    context.consumerState.withLock {
        $0.cooperative = cooperative
        $0.pendingEvents.append(event)
    }
    context.logger.debug("rebalance", metadata: ["kafka.event": "\(event.logDescription)"])
}

extension KafkaConsumerEvent {
    /// A one-line summary without payloads, for logs.
    var logDescription: String {
        switch self {
        case .message(let message): "message \(message.topic)[\(message.partition)]@\(message.offset)"
        case .partitionsAssigned(let partitions): "assigned \(partitions)"
        case .partitionsRevoked(let partitions, let lost): "revoked \(partitions) lost=\(lost)"
        case .error(let error): "error \(error.name)"
        }
    }
}

extension KafkaConsumerMessage {
    /// Copies a librdkafka message (which the caller still destroys).
    init(_ message: UnsafePointer<rd_kafka_message_t>) {
        let raw = message.pointee
        var key: [UInt8]?
        if let keyPointer = raw.key {
            key = Array(UnsafeRawBufferPointer(start: keyPointer, count: raw.key_len))
        }
        var value: [UInt8] = []
        if let payload = raw.payload {
            value = Array(UnsafeRawBufferPointer(start: payload, count: raw.len))
        }
        var headers: [KafkaHeader] = []
        var headerList: OpaquePointer?
        if rd_kafka_message_headers(message, &headerList) == RD_KAFKA_RESP_ERR_NO_ERROR, let headerList {
            var index = 0
            var name: UnsafePointer<CChar>?
            var headerValue: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(headerList, index, &name, &headerValue, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                let bytes = headerValue.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
                headers.append(KafkaHeader(name: name.map { String(cString: $0) } ?? "", value: bytes))
                index += 1
            }
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let milliseconds = rd_kafka_message_timestamp(message, &timestampType)
        let timestamp = milliseconds >= 0 ? Date(timeIntervalSince1970: Double(milliseconds) / 1000) : nil
        self.init(
            topic: raw.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "",
            partition: raw.partition,
            offset: raw.offset,
            key: key,
            value: value,
            headers: headers,
            timestamp: timestamp
        )
    }
}

extension RDKafkaClient {
    /// Subscribes to `topics` and routes the main queue to the consumer queue.
    func subscribe(_ topics: [String]) throws(KafkaError) {
        rd_kafka_poll_set_consumer(handle)
        let list = rd_kafka_topic_partition_list_new(Int32(clamping: topics.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics {
            rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA)
        }
        try KafkaError.check(rd_kafka_subscribe(handle, list), context: "subscribe to \(topics.joined(separator: ","))")
    }

    /// The next event: one raised by a callback earlier, else the next message or error from
    /// `rd_kafka_consumer_poll` (which also runs the rebalance callback). Blocks up to the timeout.
    func pollConsumer(timeoutMilliseconds: Int32) throws(KafkaError) -> KafkaConsumerEvent? {
        if let event = popPendingEvent() { return event }
        var polled: KafkaConsumerEvent?
        if let message = rd_kafka_consumer_poll(handle, timeoutMilliseconds) {
            defer { rd_kafka_message_destroy(message) }
            let err = message.pointee.err
            if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                polled = .message(KafkaConsumerMessage(UnsafePointer(message)))
            } else if err == RD_KAFKA_RESP_ERR__PARTITION_EOF {
                polled = nil
            } else if let fatal = fatalError(context: "consumer poll") {
                throw fatal
            } else {
                var context = "consumer poll"
                if let topic = message.pointee.rkt {
                    context += " (\(String(cString: rd_kafka_topic_name(topic)))[\(message.pointee.partition)])"
                }
                let reason = rd_kafka_message_errstr(message).map { String(cString: $0) }
                polled = .error(KafkaError(rdKafkaCode: err, context: context, reason: reason))
            }
        }
        return callbackContext.consumerState.withLock { state in
            guard !state.pendingEvents.isEmpty else { return polled }
            if let polled { state.pendingEvents.append(polled) }
            return state.pendingEvents.removeFirst()
        }
    }

    private func popPendingEvent() -> KafkaConsumerEvent? {
        callbackContext.consumerState.withLock { state in
            state.pendingEvents.isEmpty ? nil : state.pendingEvents.removeFirst()
        }
    }

    /// Starts committing `offsets`; the answer arrives on the returned commit's own queue
    /// (`awaitCommit`), so the handle stays free for `poll` meanwhile.
    func startCommit(_ offsets: [KafkaTopicPartitionOffset]) throws(KafkaError) -> PendingCommit {
        let list = RDKafkaTopicPartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let pending = PendingCommit(queue: rd_kafka_queue_new(handle), offsets: offsets)
        try KafkaError.check(rd_kafka_commit_queue(handle, list, pending.queue, nil, nil), context: "commit \(offsets)")
        return pending
    }

    /// Waits up to `timeoutMilliseconds` for the answer to `pending`: true once it came and
    /// said every offset is committed, false when it has not come yet.
    /// - Throws: the broker's error for the commit or one of its partitions.
    func awaitCommit(_ pending: PendingCommit, timeoutMilliseconds: Int32) throws(KafkaError) -> Bool {
        while let event = rd_kafka_queue_poll(pending.queue, timeoutMilliseconds) {
            defer { rd_kafka_event_destroy(event) }
            guard rd_kafka_event_type(event) == RD_KAFKA_EVENT_OFFSET_COMMIT else { continue }
            try KafkaError.check(rd_kafka_event_error(event), context: "commit \(pending.offsets)")
            for (item, err) in RDKafkaTopicPartitionList.read(rd_kafka_event_topic_partition_list(event))
            where err != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw KafkaError(rdKafkaCode: err, context: "commit \(item)")
            }
            return true
        }
        return false
    }

    /// The group's committed offsets for `partitions`. Blocks.
    func committed(_ partitions: [KafkaTopicPartition], timeoutMilliseconds: Int32) throws(KafkaError) -> [KafkaTopicPartitionOffset] {
        guard !partitions.isEmpty else { return [] }
        let list = RDKafkaTopicPartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        try KafkaError.check(rd_kafka_committed(handle, list, timeoutMilliseconds), context: "read committed offsets")
        return try RDKafkaTopicPartitionList.read(list).map { (item, err) throws(KafkaError) in
            try KafkaError.check(err, context: "read committed offset of \(item.topicPartition)")
            return item
        }
    }

    /// Pauses or resumes fetching for `partitions` (unassigned partitions are ignored).
    func setPaused(_ partitions: [KafkaTopicPartition], paused: Bool) throws(KafkaError) {
        guard !partitions.isEmpty else { return }
        let list = RDKafkaTopicPartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let code = paused ? rd_kafka_pause_partitions(handle, list) : rd_kafka_resume_partitions(handle, list)
        try KafkaError.check(code, context: paused ? "pause \(partitions)" : "resume \(partitions)")
    }

    /// The partitions currently assigned to this consumer.
    func assignment() throws(KafkaError) -> [KafkaTopicPartition] {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        try KafkaError.check(rd_kafka_assignment(handle, &list), context: "read assignment")
        defer { if let list { rd_kafka_topic_partition_list_destroy(list) } }
        return RDKafkaTopicPartitionList.readPartitions(list)
    }

    /// The consumer's current group metadata, serialized.
    func groupMetadata() throws(KafkaError) -> KafkaConsumerGroupMetadata {
        let context = "read consumer group metadata"
        guard let metadata = rd_kafka_consumer_group_metadata(handle) else {
            throw KafkaError.local(.state, name: "_STATE", reason: "not a group consumer", context: context)
        }
        defer { rd_kafka_consumer_group_metadata_destroy(metadata) }
        var buffer: UnsafeMutableRawPointer?
        var size = 0
        try KafkaError.check(rd_kafka_consumer_group_metadata_write(metadata, &buffer, &size), context: context)
        defer { rd_kafka_mem_free(nil, buffer) }
        return KafkaConsumerGroupMetadata(serialized: Array(UnsafeRawBufferPointer(start: buffer, count: size)))
    }

    /// Leaves the group (revoking the assignment) and stops fetching. Blocks.
    func closeConsumer() throws(KafkaError) {
        try KafkaError.check(rd_kafka_consumer_close(handle), context: "close consumer")
    }
}

/// A commit in flight: the private queue its answer arrives on. Destroying it before the
/// answer came abandons the wait, not the commit.
final class PendingCommit: @unchecked Sendable {
    let queue: OpaquePointer
    let offsets: [KafkaTopicPartitionOffset]

    init(queue: OpaquePointer, offsets: [KafkaTopicPartitionOffset]) {
        self.queue = queue
        self.offsets = offsets
    }

    deinit { rd_kafka_queue_destroy(queue) }
}
