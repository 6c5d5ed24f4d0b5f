import CRdKafka

/// Conversions between `rd_kafka_topic_partition_list_t` and the module's value types.
enum RDKafkaTopicPartitionList {
    typealias Pointer = UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    /// A new list (caller destroys it) of partitions with offsets; nil offsets become
    /// librdkafka's "invalid" (no offset) marker.
    static func make(_ offsets: [KafkaTopicPartitionOffset]) -> Pointer {
        let list = rd_kafka_topic_partition_list_new(Int32(clamping: offsets.count))!
        for item in offsets {
            let element = rd_kafka_topic_partition_list_add(list, item.topic, item.partition)!
            element.pointee.offset = item.offset ?? Int64(RD_KAFKA_OFFSET_INVALID)
        }
        return list
    }

    /// A new list (caller destroys it) of partitions without offsets.
    static func make(_ partitions: [KafkaTopicPartition]) -> Pointer {
        make(partitions.map { KafkaTopicPartitionOffset($0, offset: nil) })
    }

    /// The elements of a list with their offsets (negative "logical" offsets read as nil)
    /// and per-element errors.
    static func read(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>?) -> [(KafkaTopicPartitionOffset, rd_kafka_resp_err_t)] {
        guard let list, let elements = list.pointee.elems else { return [] }
        return (0..<Int(list.pointee.cnt)).map { index in
            let element = elements[index]
            let offset = element.offset >= 0 ? element.offset : nil
            return (
                KafkaTopicPartitionOffset(topic: String(cString: element.topic), partition: element.partition, offset: offset),
                element.err
            )
        }
    }

    static func readPartitions(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>?) -> [KafkaTopicPartition] {
        read(list).map { $0.0.topicPartition }
    }
}
