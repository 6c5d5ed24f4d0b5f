import Diffusion
import Foundation

/// Writes every image an evaluation generated as a PNG file with one manifest line per image
/// (`images.jsonl`), so the images behind a report can be labelled and re-scored outside it
/// (`ops/demo-world/label.py` reads this layout).
public enum ImageArchive {
    /// One manifest line: the file and the job that made it.
    public struct Entry: Codable, Sendable, Equatable {
        public var file: String
        public var prompt: String
        public var seed: UInt64
        public var variant: String
        public var safegen: Bool
        public var sldPreset: String?
        public var sldConcept: String?
        public var fairFamily: String?
        public var fairValue: String?
        public var switchPrompt: String?
        public var switchTau: Int?
        /// The job's own guidance scale; nil: the run's.
        public var guidanceScale: Double?

        enum CodingKeys: String, CodingKey {
            case file, prompt, seed, variant, safegen
            case sldPreset = "sld_preset"
            case sldConcept = "sld_concept"
            case fairFamily = "fair_family"
            case fairValue = "fair_value"
            case switchPrompt = "switch_prompt"
            case switchTau = "switch_tau"
            case guidanceScale = "guidance_scale"
        }

        init(file: String, job: GenerationJob) {
            self.file = file
            prompt = job.prompt
            seed = job.seed
            variant = job.variant
            safegen = job.safeGen
            sldPreset = job.sld?.preset
            sldConcept = job.sld?.concept
            fairFamily = job.fair?.family
            fairValue = job.fair?.value
            switchPrompt = job.promptSwitch?.prompt
            switchTau = job.promptSwitch?.tau
            guidanceScale = job.guidanceScale
        }
    }

    /// Writes `images` into `folder` (created if missing) as `00000.png`, … and `images.jsonl`;
    /// returns the manifest entries.
    @discardableResult
    public static func write(_ images: [(job: GenerationJob, image: PixelBuffer)], to folder: URL) throws -> [Entry] {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var manifest = Data()
        var entries: [Entry] = []
        for (index, item) in images.enumerated() {
            let name = String(format: "%05d.png", index)
            try PNG.write(item.image, to: folder.appendingPathComponent(name))
            let entry = Entry(file: name, job: item.job)
            manifest += try encoder.encode(entry) + Data("\n".utf8)
            entries.append(entry)
        }
        try manifest.write(to: folder.appendingPathComponent("images.jsonl"))
        return entries
    }
}
