import CRdKafka

/// Builds librdkafka configuration objects from key/value properties.
enum RDKafkaConfig {
    /// Property names whose values must never appear in errors or logs.
    static func isSensitive(_ key: String) -> Bool {
        let lowered = key.lowercased()
        return ["password", "secret", "sasl.oauthbearer", "sasl.jaas", "ssl.key", "keystore", "token", "credential"]
            .contains { lowered.contains($0) }
    }

    /// A new `rd_kafka_conf_t` with every property set, or a clear error naming the first bad one.
    /// The caller owns the result until `rd_kafka_new` succeeds.
    static func make(_ properties: [(key: String, value: String)]) throws(KafkaError) -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError.local(.invalidArgument, name: "_INVALID_ARG", reason: "out of memory", context: "rd_kafka_conf_new")
        }
        var errstr = [CChar](repeating: 0, count: 512)
        for (key, value) in properties {
            let result = rd_kafka_conf_set(conf, key, value, &errstr, errstr.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                throw KafkaError.configuration(
                    key: key, unknown: result == RD_KAFKA_CONF_UNKNOWN, reason: String(cBuffer: errstr)
                )
            }
        }
        return conf
    }
}

extension String {
    /// The NUL-terminated text in a C character buffer filled by librdkafka.
    init(cBuffer: [CChar]) {
        let bytes = cBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        self.init(decoding: bytes, as: UTF8.self)
    }
}
