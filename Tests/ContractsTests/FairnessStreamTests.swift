import Contracts
import Testing

/// The largest-deficit-first stream: every prefix within one image of the target, every window
/// within two, whatever the proportions.
@Suite struct FairnessStreamTests {
    /// Proportions with 2 to 5 values, including uneven and zero shares.
    static let targets: [[String: Double]] = [
        ["female": 0.5, "male": 0.5],
        ["a": 0.7, "b": 0.3],
        ["a": 0.2, "b": 0.3, "c": 0.5],
        ["a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4],
        ["a": 0.05, "b": 0.15, "c": 0.25, "d": 0.25, "e": 0.3],
        ["a": 1.0 / 3, "b": 1.0 / 3, "c": 1.0 / 3],
        ["a": 0.9, "b": 0.1, "c": 0],
        ["a": 0.999, "b": 0.001],
    ]

    @Test(arguments: targets)
    func everyPrefixIsWithinOneImageAndEveryWindowWithinTwo(target: [String: Double]) {
        var stream = FairnessStream()
        var sequence: [String] = []
        var worst = 0.0
        for n in 1...2000 {
            let (value, index) = stream.assign(proportions: target)
            #expect(index == n - 1)
            sequence.append(value)
            for (v, p) in target { worst = max(worst, abs(Double(stream.counts[v] ?? 0) - p * Double(n))) }
        }
        #expect(worst < 1, "prefix deviation \(worst) for \(target)")
        #expect(stream.total == 2000 && stream.counts.values.reduce(0, +) == 2000)
        #expect(stream.counts["c"] == nil || target["c"]! > 0, "a value with share 0 is never assigned")
        // Windows of every length up to 100 at every start up to 300.
        var windowWorst = 0.0
        for length in 1...100 {
            for start in stride(from: 0, through: 300, by: 7) {
                let window = sequence[start..<(start + length)]
                for (v, p) in target {
                    windowWorst = max(windowWorst, abs(Double(window.filter { $0 == v }.count) - p * Double(length)))
                }
            }
        }
        #expect(windowWorst <= 2, "window deviation \(windowWorst) for \(target)")
    }

    /// 50/50 alternates from the first name; the stream continues where its counts left off.
    @Test func fiftyFiftyAlternatesAndResumesFromItsCounts() {
        var stream = FairnessStream()
        let values = (0..<6).map { _ in stream.assign(proportions: ["male": 0.5, "female": 0.5]).value }
        #expect(values == ["female", "male", "female", "male", "female", "male"])
        var resumed = FairnessStream(counts: ["female": 3, "male": 2])
        #expect(resumed.total == 5)
        #expect(resumed.assign(proportions: ["male": 0.5, "female": 0.5]) == ("male", 5))
    }

    @Test func theKeyNamesFamilyAndTargetInOneOrder() {
        let key = FairnessStream.key(for: FairnessTarget(family: "gender", proportions: ["male": 0.5, "female": 0.5]))
        #expect(key == "gender:female=0.5,male=0.5")
        #expect(FairnessStream.key(for: FairnessTarget(family: "g", proportions: ["b": 1, "a": 0])) == "g:a=0,b=1")
    }
}
