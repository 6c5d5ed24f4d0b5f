/// Fair Diffusion over a stream of requests: which attribute value each request of a tenant
/// gets, so that every stretch of the tenant's requests meets the target proportions as closely
/// as whole counts allow, whatever seeds the requests carry.
///
/// The rule is the largest deficit first: after `n` assignments with `c_v` of value `v`, the
/// next request gets the value with the largest `p_v·(n + 1) − c_v` (ties to the first name in
/// order; values with share 0 never). Every prefix then stays within one image of the target
/// (`|c_v − p_v·n| < 1`), so any window of the stream is within two of it. A per-request draw
/// from the seed, as before, lets a tenant that reuses one seed get one value every time.
public struct FairnessStream: Sendable, Equatable, Codable {
    /// Assignments so far, per value.
    public var counts: [String: Int]
    /// Assignments so far, in all.
    public var total: Int

    public init(counts: [String: Int] = [:]) {
        self.counts = counts
        self.total = counts.values.reduce(0, +)
    }

    /// The value the next request gets under `proportions` (shares that sum to 1).
    public func next(proportions: [String: Double]) -> String {
        var best: (value: String, deficit: Double)?
        for value in proportions.keys.sorted() {
            let share = proportions[value] ?? 0
            guard share > 0 else { continue }
            let deficit = share * Double(total + 1) - Double(counts[value] ?? 0)
            if best == nil || deficit > best!.deficit + 1e-12 { best = (value, deficit) }
        }
        return best?.value ?? proportions.keys.sorted().first ?? ""
    }

    /// Assigns the next request: returns its value and its index in the stream (0-based).
    public mutating func assign(proportions: [String: Double]) -> (value: String, index: Int) {
        let value = next(proportions: proportions)
        let index = total
        counts[value, default: 0] += 1
        total += 1
        return (value, index)
    }

    /// The stream a request belongs to: the family and its target, written out so that two
    /// requests asking for the same proportions share a stream (`gender:female=0.5,male=0.5`).
    public static func key(for target: FairnessTarget) -> String {
        target.family + ":" + target.proportions.sorted { $0.key < $1.key }
            .map { "\($0.key)=\(shortest($0.value))" }.joined(separator: ",")
    }

    private static func shortest(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}

/// The value a request's Fair Diffusion family was assigned from its tenant's stream, and where
/// in the stream: recorded in the result and the audit row (`fairness.stream_index`).
public struct FairnessAssignment: Sendable, Hashable, Codable {
    public var family: String
    public var value: String
    /// 0-based position of the request in its tenant's stream for this family and target.
    public var streamIndex: Int

    public init(family: String, value: String, streamIndex: Int) {
        self.family = family
        self.value = value
        self.streamIndex = streamIndex
    }
}
