import Tensor

/// NudeNet 3.4.2's decoding of `output0` [1, 4 + 18, anchors]: per anchor the best class, a
/// 0.2 candidate threshold, boxes scaled back to the padded square and clipped to the image,
/// then class-agnostic non-maximum suppression as `cv2.dnn.NMSBoxes(score 0.25, IoU 0.45)`.
///
/// Box arithmetic runs in Double like the package's NumPy code; scores stay float32.
public struct NudeNetPostprocessor: Sendable {
    public var candidateThreshold: Float = 0.2
    public var scoreThreshold: Float = 0.25
    public var iouThreshold: Float = 0.45
    public var inputSize: Int = 320

    public init() {}

    /// A candidate before suppression, with the unrounded box.
    struct Candidate {
        var label: Int
        var score: Float
        var x, y, w, h: Double
    }

    /// Decodes one image's `output0` (shape [1, 22, N]) for an original image of `width`×`height`.
    public func detections(output0: Tensor, width: Int, height: Int) throws(HarmScoringError) -> [NudeNetDetection] {
        let classes = NudeNetLabel.allCases.count
        guard output0.rank == 3, output0.shape[0] == 1, output0.shape[1] == 4 + classes else {
            throw HarmScoringError(.inference, "NudeNet: output0 has shape \(output0.shape), expected [1, \(4 + classes), anchors]")
        }
        let anchors = output0.shape[2]
        let side = Double(max(width, height))
        var candidates: [Candidate] = []
        output0.withUnsafeBufferPointer { v in
            for a in 0..<anchors {
                var best = 0
                var bestScore = v[4 * anchors + a]
                for c in 1..<classes where v[(4 + c) * anchors + a] > bestScore {
                    best = c
                    bestScore = v[(4 + c) * anchors + a]
                }
                guard bestScore >= candidateThreshold else { continue }
                let cx = Double(v[a]), cy = Double(v[anchors + a])
                let w0 = Double(v[2 * anchors + a]), h0 = Double(v[3 * anchors + a])
                var x = (cx - w0 / 2) * side / Double(inputSize)
                var y = (cy - h0 / 2) * side / Double(inputSize)
                var w = w0 * side / Double(inputSize)
                var h = h0 * side / Double(inputSize)
                x = max(0, min(x, Double(width)))
                y = max(0, min(y, Double(height)))
                w = min(w, Double(width) - x)
                h = min(h, Double(height) - y)
                candidates.append(Candidate(label: best, score: bestScore, x: x, y: y, w: w, h: h))
            }
        }
        return suppress(candidates).map { c in
            NudeNetDetection(
                label: NudeNetLabel.allCases[c.label], score: c.score,
                box: PixelRect(x: Self.truncate(c.x), y: Self.truncate(c.y), width: Self.truncate(c.w), height: Self.truncate(c.h)))
        }
    }

    /// Python `int()` of a float: truncation toward zero (NaN and huge values become 0 or clamp).
    static func truncate(_ v: Double) -> Int {
        guard v.isFinite else { return 0 }
        return Int(max(min(v, 1e15), -1e15).rounded(.towardZero))
    }

    /// `cv2.dnn.NMSBoxes` on Rect2d boxes: keep scores strictly above the threshold, stable sort
    /// by descending score, greedily keep boxes whose overlap with every kept box is ≤ IoU.
    func suppress(_ candidates: [Candidate]) -> [Candidate] {
        let order = candidates.indices
            .filter { candidates[$0].score > scoreThreshold }
            .enumerated()
            .sorted { lhs, rhs in
                let (a, b) = (candidates[lhs.element].score, candidates[rhs.element].score)
                return a != b ? a > b : lhs.offset < rhs.offset
            }
            .map(\.element)
        var kept: [Candidate] = []
        for i in order {
            let c = candidates[i]
            if kept.allSatisfy({ Self.overlap(c, $0) <= iouThreshold }) { kept.append(c) }
        }
        return kept
    }

    /// `1 - jaccardDistance` as OpenCV computes it for Rect2d, returned as float.
    static func overlap(_ a: Candidate, _ b: Candidate) -> Float {
        let areaA = a.w * a.h, areaB = b.w * b.h
        if areaA + areaB <= Double.ulpOfOne { return 1 }
        let x1 = max(a.x, b.x), y1 = max(a.y, b.y)
        let x2 = min(a.x + a.w, b.x + b.w), y2 = min(a.y + a.h, b.y + b.h)
        let intersection = (x2 - x1 > 0 && y2 - y1 > 0) ? (x2 - x1) * (y2 - y1) : 0
        let distance = 1.0 - intersection / (areaA + areaB - intersection)
        return 1 - Float(distance)
    }
}
