import CRdKafka
import Foundation
import Synchronization

/// Waits for one message's delivery report; passed to librdkafka as the message opaque.
final class RDKafkaDeliveryWaiter: Sendable {
    let continuation: CheckedContinuation<KafkaDeliveryReport, any Error>
    let context: String

    init(continuation: CheckedContinuation<KafkaDeliveryReport, any Error>, context: String) {
        self.continuation = continuation
        self.context = context
    }
}

let rdKafkaDeliveryCallback: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = {
    handle, message, _ in
    guard let message, let opaque = message.pointee._private else { return }
    let waiter = Unmanaged<RDKafkaDeliveryWaiter>.fromOpaque(opaque).takeRetainedValue()
    let err = message.pointee.err
    if err == RD_KAFKA_RESP_ERR_NO_ERROR {
        let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        waiter.continuation.resume(
            returning: KafkaDeliveryReport(topic: topic, partition: message.pointee.partition, offset: message.pointee.offset)
        )
    } else if err == RD_KAFKA_RESP_ERR__FATAL, let handle, let fatal = KafkaError.fatalError(of: handle, context: waiter.context) {
        waiter.continuation.resume(throwing: fatal)
    } else {
        waiter.continuation.resume(throwing: KafkaError(rdKafkaCode: err, context: waiter.context))
    }
}

extension RDKafkaClient {
    /// Enqueues one message without blocking. The delivery report resumes `waiter`
    /// (retained here, released by the callback); on immediate failure the error is returned
    /// and `waiter` is not resumed.
    func produce(
        topic: String, partition: Int32?, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader],
        waiter: RDKafkaDeliveryWaiter
    ) -> KafkaError? {
        var cStrings: [UnsafeMutablePointer<CChar>] = []
        defer { cStrings.forEach { free($0) } }
        func cString(_ string: String) -> UnsafeMutablePointer<CChar> {
            let pointer = strdup(string)!
            cStrings.append(pointer)
            return pointer
        }
        let opaque = Unmanaged.passRetained(waiter).toOpaque()
        let error: OpaquePointer? = key.withOptionalUnsafeBytes { keyBytes in
            value.withUnsafeBytes { valueBytes in
                var fields: [rd_kafka_vu_t] = [
                    rd_kafka_vu_t(vtype: RD_KAFKA_VTYPE_TOPIC, u: .init(cstr: cString(topic))),
                    rd_kafka_vu_t(vtype: RD_KAFKA_VTYPE_PARTITION, u: .init(i32: partition ?? RD_KAFKA_PARTITION_UA)),
                    rd_kafka_vu_t(vtype: RD_KAFKA_VTYPE_MSGFLAGS, u: .init(i: RD_KAFKA_MSG_F_COPY)),
                    rd_kafka_vu_t(
                        vtype: RD_KAFKA_VTYPE_VALUE,
                        u: .init(mem: .init(ptr: UnsafeMutableRawPointer(mutating: valueBytes.baseAddress), size: valueBytes.count))
                    ),
                    rd_kafka_vu_t(vtype: RD_KAFKA_VTYPE_OPAQUE, u: .init(ptr: opaque)),
                ]
                if let keyBytes {
                    fields.append(rd_kafka_vu_t(
                        vtype: RD_KAFKA_VTYPE_KEY,
                        u: .init(mem: .init(ptr: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress), size: keyBytes.count))
                    ))
                }
                // Header values are copied by librdkafka, so these buffers only need to live for the call.
                var headerBuffers: [UnsafeMutableRawBufferPointer] = []
                defer { headerBuffers.forEach { $0.deallocate() } }
                for header in headers {
                    var valuePointer: UnsafeRawPointer?
                    var size = -1
                    if let headerValue = header.value {
                        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, headerValue.count), alignment: 1)
                        buffer.copyBytes(from: headerValue)
                        headerBuffers.append(buffer)
                        valuePointer = UnsafeRawPointer(buffer.baseAddress)
                        size = headerValue.count
                    }
                    fields.append(rd_kafka_vu_t(
                        vtype: RD_KAFKA_VTYPE_HEADER,
                        u: .init(header: .init(name: cString(header.name), val: valuePointer, size: size))
                    ))
                }
                return rd_kafka_produceva(handle, fields, fields.count)
            }
        }
        guard let error else { return nil }
        Unmanaged<RDKafkaDeliveryWaiter>.fromOpaque(opaque).release()
        return KafkaError(consuming: error, context: waiter.context)
    }

    /// Waits until every queued message has a delivery report. Blocks.
    func flush(timeoutMilliseconds: Int32) throws(KafkaError) {
        try KafkaError.check(rd_kafka_flush(handle, timeoutMilliseconds), context: "flush")
    }

    /// Fails every queued and in-flight message with a purge error and serves their delivery
    /// reports, so no sender waits forever on a producer that is going away. Blocks briefly.
    func purgeAndServeDeliveryReports() {
        rd_kafka_purge(handle, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
        for _ in 0..<50 where rd_kafka_outq_len(handle) > 0 {
            rd_kafka_poll(handle, 100)
        }
        rd_kafka_poll(handle, 0)
    }

    /// Blocks.
    func initTransactions(timeoutMilliseconds: Int32) throws(KafkaError) {
        try KafkaError.check(rd_kafka_init_transactions(handle, timeoutMilliseconds), context: "initTransactions")
    }

    func beginTransaction() throws(KafkaError) {
        try KafkaError.check(rd_kafka_begin_transaction(handle), context: "beginTransaction")
    }

    /// Blocks.
    func sendOffsetsToTransaction(
        _ offsets: [KafkaTopicPartitionOffset], groupMetadata: KafkaConsumerGroupMetadata, timeoutMilliseconds: Int32
    ) throws(KafkaError) {
        let context = "sendOffsetsToTransaction"
        let list = RDKafkaTopicPartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let metadata = try RDKafkaClient.readGroupMetadata(groupMetadata, context: context)
        defer { rd_kafka_consumer_group_metadata_destroy(metadata) }
        try KafkaError.check(
            rd_kafka_send_offsets_to_transaction(handle, list, metadata, timeoutMilliseconds), context: context
        )
    }

    /// Blocks.
    func commitTransaction(timeoutMilliseconds: Int32) throws(KafkaError) {
        try KafkaError.check(rd_kafka_commit_transaction(handle, timeoutMilliseconds), context: "commitTransaction")
    }

    /// Blocks.
    func abortTransaction(timeoutMilliseconds: Int32) throws(KafkaError) {
        try KafkaError.check(rd_kafka_abort_transaction(handle, timeoutMilliseconds), context: "abortTransaction")
    }

    static func readGroupMetadata(_ metadata: KafkaConsumerGroupMetadata, context: String) throws(KafkaError) -> OpaquePointer {
        var pointer: OpaquePointer?
        let error = metadata.serialized.withUnsafeBytes { bytes in
            rd_kafka_consumer_group_metadata_read(&pointer, bytes.baseAddress, bytes.count)
        }
        try KafkaError.check(error, context: context)
        guard let pointer else {
            throw KafkaError.local(.invalidArgument, name: "_INVALID_ARG", reason: "unreadable group metadata", context: context)
        }
        return pointer
    }
}

/// A dedicated thread that serves a producer's delivery reports by calling `rd_kafka_poll`.
final class RDKafkaPollThread: Sendable {
    private let stopRequested = Atomic(false)
    private let stopped = DispatchSemaphore(value: 0)

    init(client: RDKafkaClient, name: String) {
        let thread = Thread { [self] in
            while !stopRequested.load(ordering: .acquiring) {
                client.poll(timeoutMilliseconds: 100)
            }
            stopped.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Stops polling and waits for the thread to finish its last poll (at most ~100 ms). Blocks.
    func stop() {
        if !stopRequested.exchange(true, ordering: .acquiringAndReleasing) {
            stopped.wait()
        }
    }
}

extension Optional where Wrapped == [UInt8] {
    func withOptionalUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        switch self {
        case .none: return try body(nil)
        case .some(let bytes): return try bytes.withUnsafeBytes { try body($0) }
        }
    }
}
