import Foundation
import Testing
@testable import Worker

/// `/proc/self` read as Prometheus clients report it.
@Suite struct ProcessMetricsTests {
    @Test func readsThisProcess() throws {
        let sample = try #require(ProcessMetrics.sample())
        #expect(sample.residentBytes > 1_000_000)
        #expect(sample.virtualBytes >= sample.residentBytes)
        #expect(sample.openFileDescriptors >= 3 && sample.openFileDescriptors <= sample.maxFileDescriptors)
        let now = Date().timeIntervalSince1970
        #expect(sample.startTimeSeconds <= now + 1 && sample.startTimeSeconds > now - 86_400, "start \(sample.startTimeSeconds), now \(now)")
        // CPU time grows with work.
        var x = 0.0
        for i in 0..<20_000_000 { x += Double(i % 7) }
        let later = try #require(ProcessMetrics.sample())
        #expect(later.cpuSeconds > sample.cpuSeconds, "\(x)")
    }

    /// The command name may hold spaces and parentheses; fields are counted after its last `)`.
    @Test func aCommandNameWithParenthesesDoesNotShiftTheFields() throws {
        let fields = (3...52).map(String.init).joined(separator: " ")
        let parsed = try #require(ProcessMetrics.statFields("4242 (a b) (c)) " + fields))
        #expect(parsed.first == "3")
        #expect(parsed[24 - 3] == "24")
        #expect(ProcessMetrics.statFields("4242 (short) S 1") == nil)
    }
}
