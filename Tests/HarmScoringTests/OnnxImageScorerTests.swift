import Contracts
import Moderation
import Diffusion
import Foundation
import Testing
@testable import HarmScoring
import TestSupport

/// ONNX image scorers (the demo world's kind) against onnxruntime, their descriptors, and the
/// grid-to-region arithmetic.
@Suite struct OnnxImageScorerTests {
    static let folder = TestPaths.fixture("demo-scorers")
    static let scorers = folder.appendingPathComponent("scorers")

    struct Expected: Decodable {
        var shape: [Int]
        var values: [Double]
    }

    static func expected() throws -> [String: [String: Expected]] {
        try JSONDecoder().decode([String: [String: Expected]].self, from: Data(contentsOf: folder.appendingPathComponent("expected.json")))
    }

    @Test(arguments: ["gradient_64x64", "noise_96x80"])
    func matchesOnnxRuntime(image name: String) throws {
        let image = try PNG.read(contentsOf: Self.folder.appendingPathComponent("images/\(name).png"))
        let reference = try #require(try Self.expected()[name])
        for scorer in try OnnxImageScorer.loadFolder(Self.scorers) {
            let expected = try #require(reference[scorer.name])
            let rgb = image.rgb()
            let output = try scorer.rawOutput(try scorer.input(rgb: rgb.bytes, width: rgb.width, height: rgb.height))
            #expect(output.shape == expected.shape)
            let worst = zip(output.scalars, expected.values).map { abs(Double($0) - $1) }.max() ?? .infinity
            #expect(worst <= 1e-4, "\(scorer.name) on \(name): max difference \(worst)")

            let scoring = try scorer.score(image)
            switch scorer.descriptor.outputKind {
            case .grid:
                #expect(scoring.scores == [HarmScore(scorer: "exposed", label: "EXPOSED", score: Double(output.scalars.max()!))])
                let flagged = output.scalars.filter { Double($0) >= 0.5 }.count
                #expect(scoring.regions.count == flagged)
                #expect(scoring.regions.allSatisfy { $0.width > 0 && $0.x + $0.width <= image.width && $0.y + $0.height <= image.height })
            case .classes:
                #expect(scoring.scores.map(\.label) == ["female", "male"])
                #expect(abs(scoring.scores.map(\.score).reduce(0, +) - 1) < 1e-5)
                #expect(scoring.regions.isEmpty)
            }
        }
    }

    @Test func loadsTheFolderSortedWithKinds() throws {
        let scorers = try OnnxImageScorer.loadFolder(Self.scorers)
        #expect(scorers.map(\.name) == ["attribute", "exposed"])
        #expect(scorers[1].descriptor.isHarmScorer && !scorers[0].descriptor.isHarmScorer)
        #expect(scorers[1].gridRows == 8 && scorers[1].gridColumns == 8)
    }

    static let good = """
        {"onnx": "exposed.onnx", "input_width": 64, "input_height": 64, "input_layout": "NCHW",
         "input_channels": "RGB", "input_range": [0, 1], "output_kind": "grid", "threshold": 0.5,
         "labels": ["EXPOSED"], "harm_category": "sexual", "harm_label": "EXPOSED"}
        """

    func decode(_ text: String) throws(HarmScoringError) -> ScorerDescriptor {
        try ScorerDescriptor.decode(Data(text.utf8), name: "exposed", source: "scorers/exposed.json")
    }

    @Test func decodesTheAgreedFormat() throws {
        let d = try decode(Self.good)
        #expect(d == ScorerDescriptor(
            name: "exposed", onnx: "exposed.onnx", inputWidth: 64, inputHeight: 64, outputKind: .grid,
            labels: ["EXPOSED"], threshold: 0.5, harmCategory: "sexual", harmLabel: "EXPOSED"))
    }

    @Test(arguments: [
        ("\"input_width\": 64,", "\"input_width\": 64, \"colour\": 1,", "unknown field 'colour'"),
        ("\"input_layout\": \"NCHW\",", "", "missing field 'input_layout'"),
        ("\"NCHW\"", "\"NHWC\"", "field 'input_layout' must be \"NCHW\""),
        ("\"RGB\"", "\"BGR\"", "field 'input_channels' must be \"RGB\""),
        ("[0, 1]", "[0, 255]", "field 'input_range' must be [0, 1]"),
        ("\"grid\"", "\"boxes\"", "field 'output_kind' must be one of grid, classes"),
        ("\"threshold\": 0.5,", "", "missing field 'threshold' (required for output_kind grid)"),
        ("\"threshold\": 0.5", "\"threshold\": \"0.5\"", "field 'threshold' must be a number, got string"),
        ("\"input_width\": 64", "\"input_width\": 64.5", "field 'input_width' must be a whole number"),
        ("\"harm_label\": \"EXPOSED\"", "\"harm_label\": \"NUDE\"", "field 'harm_label' is \"NUDE\", which is not one of labels"),
        (", \"harm_label\": \"EXPOSED\"", "", "missing field 'harm_label' (required with 'harm_category')"),
        ("[\"EXPOSED\"]", "[\"EXPOSED\", \"COVERED\"]", "a grid scorer has exactly one label"),
        ("\"exposed.onnx\"", "\"../exposed.onnx\"", "field 'onnx' must be a file name ending in .onnx"),
    ])
    func refusesBadDescriptors(replace: String, with replacement: String, message: String) {
        #expect(Self.good.contains(replace))
        let text = Self.good.replacingOccurrences(of: replace, with: replacement)
        do {
            _ = try decode(text)
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.code == .modelLoad)
            #expect(error.message.hasPrefix("scorer descriptor scorers/exposed.json: "))
            #expect(error.message.contains(message), "\(error.message)")
        }
    }

    @Test func refusesClassesDescriptorsWithAThreshold() {
        let text = """
            {"onnx": "a.onnx", "input_width": 64, "input_height": 64, "input_layout": "NCHW", "input_channels": "RGB",
             "input_range": [0, 1], "output_kind": "classes", "labels": ["female", "male"], "threshold": 0.5}
            """
        #expect(throws: HarmScoringError.self) { try decode(text) }
    }

    @Test(arguments: [
        ("input32.onnx", ScorerDescriptor.OutputKind.grid, ["EXPOSED"], "has shape"),
        ("grid2channels.onnx", .grid, ["EXPOSED"], "a grid scorer returns [1, 1, rows, columns]"),
        ("classes3.onnx", .classes, ["female", "male"], "a classes scorer with 2 labels returns [1, 2]"),
        ("missing.onnx", .grid, ["EXPOSED"], "does not exist"),
    ])
    func refusesModelsThatDoNotFitTheDescriptor(file: String, kind: ScorerDescriptor.OutputKind, labels: [String], message: String) {
        let descriptor = ScorerDescriptor(
            name: "bad", onnx: file, inputWidth: 64, inputHeight: 64, outputKind: kind, labels: labels,
            threshold: kind == .grid ? 0.5 : nil)
        do {
            _ = try OnnxImageScorer(descriptor: descriptor, modelURL: Self.folder.appendingPathComponent("bad/\(file)"))
            Issue.record("\(file) was accepted")
        } catch {
            #expect(error.code == .modelLoad)
            #expect(error.message.contains("scorer bad ("), "\(error.message)")
            #expect(error.message.contains(message), "\(error.message)")
        }
    }

    @Test func gridCellsMapToPixelBoxesThatTileTheImage() {
        let grid = GridRegions(rows: 2, columns: 3, threshold: 0.5)
        // A 10×7 image: columns split at 3, 6 (⌊10/3⌋, ⌊20/3⌋), rows at 3 (⌊7/2⌋).
        #expect(grid.box(row: 0, column: 0, imageWidth: 10, imageHeight: 7) == PixelRect(x: 0, y: 0, width: 3, height: 3))
        #expect(grid.box(row: 1, column: 2, imageWidth: 10, imageHeight: 7) == PixelRect(x: 6, y: 3, width: 4, height: 4))
        var area = 0
        for r in 0..<2 { for c in 0..<3 { let b = grid.box(row: r, column: c, imageWidth: 10, imageHeight: 7); area += b.width * b.height } }
        #expect(area == 70)
        let cells: [Float] = [0.9, 0.49, 0.5,
                              0.1, 0.2, 0.7]
        #expect(grid.flagged(cells) == [true, false, true, false, false, true])
        #expect(grid.regions(cells, imageWidth: 64, imageHeight: 64) == [
            PixelRect(x: 0, y: 0, width: 21, height: 32), PixelRect(x: 42, y: 0, width: 22, height: 32),
            PixelRect(x: 42, y: 32, width: 22, height: 32),
        ])
        // (0,0) alone; (0,2) and (1,2) touch vertically: two detections.
        #expect(grid.components(cells) == 2)
        // Diagonal neighbours are not connected.
        #expect(GridRegions(rows: 2, columns: 2, threshold: 0.5).components([1, 0, 0, 1]) == 2)
        #expect(GridRegions(rows: 2, columns: 2, threshold: 0.5).components([0, 0, 0, 0]) == 0)
    }

    @Test func harmScorersJoinTheStandardPolicyAndAmplification() throws {
        let descriptors = try OnnxImageScorer.loadFolder(Self.scorers).map(\.descriptor)
        let policy = ModerationPolicy.standard.including(harmScorers: descriptors).restricted(to: ["exposed", "prompt_harm"])
        #expect(policy.defaultPolicy.rules.map(\.scorer) == ["prompt_harm", "exposed"])
        let rule = policy.defaultPolicy.rules[1]
        #expect(rule.labels == ["EXPOSED"] && rule.censorAt == 0.5 && rule.blockAt == 0.9)
        let decide = { (value: Double) in
            policy.decide(tenant: "t", scores: [HarmScore(scorer: "exposed", label: "EXPOSED", score: value)],
                          availableScorers: ["exposed", "prompt_harm"]).decision
        }
        #expect(decide(0.3) == .allow && decide(0.6) == .censor && decide(0.95) == .block)

        let amplification = HarmAmplification.standard.including(harmScorers: descriptors)
        #expect(amplification.rules.count == 1)
        #expect(amplification.rules[0].imageSources.last == ScoreSource(scorer: "exposed", labels: ["EXPOSED"]))
        let result = amplification.evaluate(scores: [HarmScore(scorer: "exposed", label: "EXPOSED", score: 0.8)])
        #expect(result[0].amplified && result[0].imageHarm == 0.8)
    }
}
