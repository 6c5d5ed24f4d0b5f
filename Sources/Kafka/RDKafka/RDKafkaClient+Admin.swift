import CRdKafka

extension RDKafkaClient {
    /// Creates topics; returns the per-topic outcome (nil = created). Blocks.
    func createTopics(
        _ topics: [KafkaTopicSpecification], timeoutMilliseconds: Int32
    ) throws(KafkaError) -> [String: KafkaError?] {
        guard !topics.isEmpty else { return [:] }
        var newTopics: [OpaquePointer?] = []
        defer { newTopics.forEach { rd_kafka_NewTopic_destroy($0) } }
        var errstr = [CChar](repeating: 0, count: 512)
        for topic in topics {
            guard let newTopic = rd_kafka_NewTopic_new(
                topic.name, Int32(clamping: topic.partitions), Int32(clamping: topic.replicationFactor), &errstr, errstr.count
            ) else {
                throw KafkaError.local(
                    .invalidArgument, name: "_INVALID_ARG", reason: String(cBuffer: errstr), context: "create topic \(topic.name)"
                )
            }
            newTopics.append(newTopic)
        }
        let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeoutMilliseconds, &errstr, errstr.count)
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeoutMilliseconds, &errstr, errstr.count)

        let queue = rd_kafka_queue_new(handle)
        defer { rd_kafka_queue_destroy(queue) }
        rd_kafka_CreateTopics(handle, &newTopics, newTopics.count, options, queue)
        let context = "create topics \(topics.map(\.name).joined(separator: ","))"
        guard let event = rd_kafka_queue_poll(queue, timeoutMilliseconds + 5000) else {
            throw KafkaError(rdKafkaCode: RD_KAFKA_RESP_ERR__TIMED_OUT, context: context)
        }
        defer { rd_kafka_event_destroy(event) }
        let eventError = rd_kafka_event_error(event)
        if eventError != RD_KAFKA_RESP_ERR_NO_ERROR {
            let reason = rd_kafka_event_error_string(event).map { String(cString: $0) }
            throw KafkaError(rdKafkaCode: eventError, context: context, reason: reason)
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            throw KafkaError.local(.state, name: "_STATE", reason: "unexpected admin result", context: context)
        }
        var count = 0
        let results = rd_kafka_CreateTopics_result_topics(result, &count)
        var outcome: [String: KafkaError?] = [:]
        for index in 0..<count {
            guard let topicResult = results?[index] else { continue }
            let name = String(cString: rd_kafka_topic_result_name(topicResult))
            let code = rd_kafka_topic_result_error(topicResult)
            if code == RD_KAFKA_RESP_ERR_NO_ERROR {
                outcome[name] = .some(nil)
            } else {
                let reason = rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) }
                outcome[name] = KafkaError(rdKafkaCode: code, context: "create topic \(name)", reason: reason)
            }
        }
        return outcome
    }

    /// Partition counts of all topics the cluster reports (no topic is auto-created). Blocks.
    func topicPartitionCounts(timeoutMilliseconds: Int32) throws(KafkaError) -> [String: Int] {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        try KafkaError.check(
            rd_kafka_metadata(handle, 1, nil, &metadata, timeoutMilliseconds), context: "read cluster metadata"
        )
        defer { rd_kafka_metadata_destroy(metadata) }
        var counts: [String: Int] = [:]
        guard let metadata, let topics = metadata.pointee.topics else { return counts }
        for index in 0..<Int(metadata.pointee.topic_cnt) {
            let topic = topics[index]
            guard topic.err == RD_KAFKA_RESP_ERR_NO_ERROR else { continue }
            counts[String(cString: topic.topic)] = Int(topic.partition_cnt)
        }
        return counts
    }
}
