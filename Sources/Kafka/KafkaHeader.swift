/// A Kafka record header: a name and an optional raw value.
public struct KafkaHeader: Hashable, Sendable {
    public var name: String
    /// The value bytes; `nil` is a header without a value (distinct from an empty value).
    public var value: [UInt8]?

    public init(name: String, value: [UInt8]?) {
        self.name = name
        self.value = value
    }

    /// A header whose value is the UTF-8 encoding of `value`.
    public init(name: String, string value: String) {
        self.init(name: name, value: Array(value.utf8))
    }

    /// The value decoded as UTF-8, or nil when absent or not valid UTF-8.
    public var stringValue: String? {
        guard let value else { return nil }
        return String(validating: value, as: UTF8.self)
    }
}
