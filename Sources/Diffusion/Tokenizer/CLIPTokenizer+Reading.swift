import Foundation

extension CLIPTokenizer {
    /// Loads a diffusers `tokenizer/` folder: `vocab.json`, `merges.txt`, and where present
    /// `tokenizer_config.json` / `special_tokens_map.json` (special tokens, `model_max_length`;
    /// the map's values win, as in transformers). Defaults are Stable Diffusion's.
    public init(folder: URL) throws {
        let vocabURL = folder.appendingPathComponent("vocab.json")
        let mergesURL = folder.appendingPathComponent("merges.txt")
        let vocabulary: [String: Int]
        do {
            vocabulary = try JSONDecoder().decode([String: Int].self, from: Data(contentsOf: vocabURL))
        } catch {
            throw DiffusionError(.invalidConfig, "\(vocabURL.path): not a JSON object of token → id (\(error))")
        }
        let merges = try Self.readMerges(mergesURL)

        var special = SpecialTokens()
        var maxLength = 77
        for name in ["tokenizer_config.json", "special_tokens_map.json"] {
            let url = folder.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            let object: [String: Any]
            do {
                guard let parsed = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] else {
                    throw DiffusionError(.invalidConfig, "top level is not an object")
                }
                object = parsed
            } catch {
                throw DiffusionError(.invalidConfig, "\(url.path): unreadable tokenizer config (\(error))")
            }
            if let token = Self.content(object["bos_token"]) { special.bos = token }
            if let token = Self.content(object["eos_token"]) { special.eos = token }
            if let token = Self.content(object["pad_token"]) { special.pad = token }
            if let token = Self.content(object["unk_token"]) { special.unknown = token }
            if let length = object["model_max_length"] as? NSNumber {
                let value = length.doubleValue
                // transformers writes a huge sentinel when no limit is known; keep CLIP's 77 then.
                if value >= 2, value <= 1_000_000 { maxLength = Int(value) }
            }
        }
        try self.init(vocabulary: vocabulary, merges: merges, specialTokens: special, maxLength: maxLength,
                      source: folder.path)
    }

    /// `merges.txt`: an optional `#version` line, then one `left right` pair per line.
    static func readMerges(_ url: URL) throws -> [(String, String)] {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw DiffusionError(.invalidConfig, "\(url.path): cannot read merges (\(error.localizedDescription))")
        }
        var merges: [(String, String)] = []
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        for (number, line) in lines.enumerated() {
            if line.isEmpty || (number == 0 && line.hasPrefix("#version")) { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw DiffusionError(.invalidConfig, "\(url.path): line \(number + 1) is not a 'left right' merge pair")
            }
            merges.append((String(parts[0]), String(parts[1])))
        }
        return merges
    }

    /// A special token given as a string or as an `AddedToken` object with `content`.
    private static func content(_ value: Any?) -> String? {
        if let text = value as? String { return text }
        if let object = value as? [String: Any], let text = object["content"] as? String { return text }
        return nil
    }
}
