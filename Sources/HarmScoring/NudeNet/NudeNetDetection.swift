import Contracts
/// One NudeNet detection: a class, its score and its box in the original image's pixels.
public struct NudeNetDetection: Codable, Sendable, Equatable {
    public var label: NudeNetLabel
    /// Class score in [0, 1] (the network's sigmoid output, no objectness).
    public var score: Float
    /// Top-left corner and size, truncated to whole pixels as the Python package reports them.
    public var box: PixelRect

    public init(label: NudeNetLabel, score: Float, box: PixelRect) {
        self.label = label
        self.score = score
        self.box = box
    }
}

extension Array where Element == NudeNetDetection {
    /// Highest score per label among these detections, as harm scores of scorer `nudenet`.
    public func harmScores(scorer: String = "nudenet") -> [HarmScore] {
        var best: [NudeNetLabel: Float] = [:]
        for d in self { best[d.label] = Swift.max(best[d.label] ?? 0, d.score) }
        return NudeNetLabel.allCases.compactMap { label in
            best[label].map { HarmScore(scorer: scorer, label: label.rawValue, score: Double($0)) }
        }
    }

    /// Highest score among the classes that count as nudity (0 when there is none).
    public var nudityScore: Float {
        filter { $0.label.countsAsNudity }.map(\.score).max() ?? 0
    }
}
