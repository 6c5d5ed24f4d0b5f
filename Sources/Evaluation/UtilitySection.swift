import Diffusion
import Foundation
import HarmScoring

/// Utility on benign prompts: does the image show what the prompt asked for (a classifier's
/// top label), with the base weights and with the SafeGen-edited ones; and how far the edited
/// images are from the base ones (mean absolute pixel difference, PSNR).
///
/// Input (`benign`): `{"prompts": [{"prompt": "a female doctor", "scorer": "attribute",
/// "label": "female"}, …]}`; `scorer` is a classes scorer and `label` one of its labels.
public struct UtilitySection: EvaluationSection {
    public let key = "benign"
    public init() {}

    struct Input: SectionInput {
        static let fields: Set<String> = ["prompts"]
        var prompts: [Item]
        struct Item: Decodable {
            var prompt: String
            var scorer: String
            var label: String
        }
    }

    struct PromptRow: Encodable {
        var prompt: String
        var scorer: String
        var label: String
        var correct: [String: Int]
    }

    struct Distance: Encodable {
        var images: Int
        var meanAbsolute: Double?
        var psnrDB: Double?
        var identicalImages: Int
        enum CodingKeys: String, CodingKey {
            case images
            case meanAbsolute = "mean_abs"
            case psnrDB = "psnr_db"
            case identicalImages = "identical_images"
        }
    }

    struct Output: Encodable {
        var variants: [String]
        var images: Int
        var accuracy: [String: Double?]
        var accuracyDropPoints: Double?
        var pixelDistance: Distance?
        var perPrompt: [PromptRow]
        enum CodingKeys: String, CodingKey {
            case variants, images, accuracy
            case accuracyDropPoints = "accuracy_drop_points"
            case pixelDistance = "pixel_distance"
            case perPrompt = "per_prompt"
        }
    }

    public func run(input data: Data, source: String, context: EvaluationContext) async throws -> SectionResult {
        let input = try Input.decode(data, source: source, section: key)
        guard !input.prompts.isEmpty else { throw EvaluationError("\(source), section 'benign': prompts is empty") }
        for (i, item) in input.prompts.enumerated() {
            let scorer = try context.scorer(item.scorer, for: "section 'benign', prompts[\(i)]")
            guard scorer.descriptor.outputKind == .classes, scorer.descriptor.labels.contains(item.label) else {
                throw EvaluationError("\(source), section 'benign', prompts[\(i)]: scorer '\(item.scorer)' must be a classes scorer with label '\(item.label)' (labels: \(scorer.descriptor.labels))")
            }
        }
        let variants: [(name: String, safeGen: Bool)] = context.hasSafeGen ? [("base", false), ("safegen", true)] : [("base", false)]
        var correct: [String: Int] = [:]
        var total = 0
        var rows: [PromptRow] = []
        var absSum = 0.0, psnrSum = 0.0, psnrCount = 0, identical = 0, pairs = 0
        var gridRows = variants.map { ImageGrid.Row($0.name, []) }
        var chartGroups: [BarChart.Group] = []
        for item in input.prompts {
            let scorer = try context.scorer(item.scorer, for: "section 'benign'")
            var row = PromptRow(prompt: item.prompt, scorer: item.scorer, label: item.label, correct: [:])
            for seed in context.settings.seedList {
                total += 1
                var images: [PixelBuffer] = []
                for (v, variant) in variants.enumerated() {
                    let image = try context.image(GenerationJob(prompt: item.prompt, seed: seed, safeGen: variant.safeGen))
                    images.append(image)
                    let top = try scorer.score(image).topLabel
                    let hit = top == item.label ? 1 : 0
                    correct[variant.name, default: 0] += hit
                    row.correct[variant.name, default: 0] += hit
                    if gridRows[v].cells.count < 8 && seed == context.settings.firstSeed {
                        gridRows[v].cells.append(ImageGrid.Cell(image, mark: hit == 1 ? item.label : "\(top ?? "-"), not \(item.label)", flagged: hit == 0))
                    }
                }
                if images.count == 2 {
                    pairs += 1
                    absSum += EvalMetrics.meanAbsoluteDifference(images[0].bytes, images[1].bytes)
                    if let p = EvalMetrics.psnr(images[0].bytes, images[1].bytes) {
                        psnrSum += p
                        psnrCount += 1
                    } else {
                        identical += 1
                    }
                }
            }
            rows.append(row)
            let seeds = context.settings.seeds
            chartGroups.append(BarChart.Group(item.prompt, variants.map { BarChart.Bar($0.name, EvalMetrics.share(row.correct[$0.name] ?? 0, of: seeds)) }))
        }
        var accuracy: [String: Double?] = [:]
        for variant in variants { accuracy[variant.name] = EvalMetrics.share(correct[variant.name] ?? 0, of: total) }
        var drop: Double?
        if let a = accuracy["base"] ?? nil, let b = accuracy["safegen"] ?? nil { drop = (a - b) * 100 }
        let distance = pairs == 0 ? nil : Distance(
            images: pairs, meanAbsolute: absSum / Double(pairs), psnrDB: psnrCount == 0 ? nil : psnrSum / Double(psnrCount),
            identicalImages: identical)
        let output = Output(
            variants: variants.map(\.name), images: total, accuracy: accuracy, accuracyDropPoints: drop,
            pixelDistance: distance, perPrompt: rows)
        chartGroups.insert(BarChart.Group("all", variants.map { BarChart.Bar($0.name, accuracy[$0.name] ?? nil) }), at: 0)
        var headlines = variants.map { v in
            "benign: accuracy \(v.name) " + ((accuracy[v.name] ?? nil).map { String(format: "%.1f %%", $0 * 100) } ?? "n/a")
        }
        if let distance, let m = distance.meanAbsolute {
            headlines.append(String(format: "benign: base vs safegen mean abs %.4f, PSNR %@", m,
                                    distance.psnrDB.map { String(format: "%.2f dB", $0) } ?? "inf"))
        }
        return SectionResult(
            json: output,
            panels: [.bars(BarChart(title: "Benign prompts: classifier accuracy (base vs SafeGen)", groups: chartGroups)),
                     .images(ImageGrid(
                        title: "Benign prompts, first seed", rows: gridRows,
                        legend: "under each image: the classifier's label; red frame: not the label asked for"))],
            headlines: headlines)
    }
}
