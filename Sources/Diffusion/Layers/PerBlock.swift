/// A config value diffusers accepts either once for all blocks or as one entry per block
/// (`attention_head_dim: 8` or `[5, 10, 20, 20]`).
public enum PerBlock<Value: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    case shared(Value)
    case perBlock([Value])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let list = try? container.decode([Value].self) {
            self = .perBlock(list)
        } else {
            self = .shared(try container.decode(Value.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .shared(let value): try container.encode(value)
        case .perBlock(let list): try container.encode(list)
        }
    }

    /// The value for each of `count` blocks, or nil when a list has the wrong length.
    public func expanded(count: Int) -> [Value]? {
        switch self {
        case .shared(let value): return Array(repeating: value, count: count)
        case .perBlock(let list): return list.count == count ? list : nil
        }
    }
}
