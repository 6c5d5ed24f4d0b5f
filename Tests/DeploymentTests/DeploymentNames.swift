import Foundation

/// Extracts the names that deployment files and the sources must agree on: configuration
/// environment variables (`CHAPERONE_*`) and Prometheus metric names (`chaperone_*`).
///
/// Plain text scanning keeps this target free of dependencies; each function documents the
/// exact shape it recognises, and `CheckerTests` proves each one reports a wrong sample.
enum DeploymentNames {
    /// The environment variable of configuration key `key`: `kafka.group_id` → `CHAPERONE_KAFKA_GROUP_ID`,
    /// as swift-configuration's environment provider spells it under the `chaperone` prefix.
    static func environmentVariable(forKey key: String) -> String {
        "CHAPERONE_" + key.uppercased().replacingOccurrences(of: ".", with: "_").replacingOccurrences(of: "-", with: "_")
    }

    /// Configuration keys in Swift source: every `forKey: "…"` string literal and every entry of
    /// the key registry (`Self("kafka.group_id", .string, …)` in ConfigurationKey.swift).
    static func configurationKeys(inSwift source: String) -> Set<String> {
        Set(matches(of: #"forKey:\s*"([a-z0-9_.\-]+)""#, in: source))
            .union(matches(of: #"Self\("([a-z0-9_]+\.[a-z0-9_]+)",\s*\.(?:string|integer|boolean|number|list)"#, in: source))
    }

    /// Environment variables read directly in Swift source: `environment["CHAPERONE_…"]`.
    static func directEnvironmentReads(inSwift source: String) -> Set<String> {
        Set(matches(of: #"environment\["(CHAPERONE_[A-Z0-9_]+)"\]"#, in: source))
    }

    /// Every `CHAPERONE_*` name in a YAML file or Dockerfile, comments (`#` at a line start or
    /// after a space) left out.
    static func environmentReferences(inConfig text: String) -> Set<String> {
        Set(matches(of: #"\b(CHAPERONE_[A-Z0-9_]+)"#, in: withoutComments(text)))
    }

    /// Metric names the code registers: `label: "chaperone_…"` string literals.
    static func emittedMetrics(inSwift source: String) -> Set<String> {
        Set(matches(of: #"label:\s*"(chaperone_[a-z0-9_]+)""#, in: source))
    }

    /// Metric names used by a PromQL expression.
    static func metricReferences(inPromQL expression: String) -> Set<String> {
        Set(matches(of: #"\b(chaperone_[a-z0-9_]+)"#, in: expression))
    }

    /// Series suffixes Prometheus adds to a histogram (or summary) family.
    static let seriesSuffixes = ["_bucket", "_sum", "_count"]

    /// The used names that no emitted family explains, allowing histogram series suffixes.
    static func unknownMetrics(used: Set<String>, emitted: Set<String>) -> Set<String> {
        used.filter { name in
            if emitted.contains(name) { return false }
            return !seriesSuffixes.contains { name.hasSuffix($0) && emitted.contains(String(name.dropLast($0.count))) }
        }
    }

    /// The PromQL expressions of a Prometheus rule file: the value of each `expr:` key, inline
    /// or as a block scalar (`expr: |` followed by more deeply indented lines).
    static func ruleExpressions(inRuleFile text: String) -> [String] {
        var expressions: [String] = []
        let lines = text.components(separatedBy: "\n")
        var index = 0
        while index < lines.count {
            let line = lines[index]
            index += 1
            guard let range = line.range(of: "expr:") else { continue }
            let keyIndent = line.prefix { $0 == " " }.count
            guard line.drop(while: { $0 == " " }).hasPrefix("expr:") || line.drop(while: { $0 == " " }).hasPrefix("- expr:") else { continue }
            let rest = line[range.upperBound...].trimmingCharacters(in: .whitespaces)
            if rest.hasPrefix("|") || rest.hasPrefix(">") {
                var block: [String] = []
                while index < lines.count {
                    let next = lines[index]
                    let indent = next.prefix { $0 == " " }.count
                    if !next.trimmingCharacters(in: .whitespaces).isEmpty && indent <= keyIndent { break }
                    block.append(next)
                    index += 1
                }
                expressions.append(block.joined(separator: "\n"))
            } else {
                expressions.append(rest)
            }
        }
        return expressions
    }

    /// The PromQL strings of a Grafana dashboard: every `expr`, and every `query` or
    /// `definition` string (template variables), found anywhere in the JSON.
    static func dashboardExpressions(json data: Data) throws -> [String] {
        let root = try JSONSerialization.jsonObject(with: data)
        var found: [String] = []
        func visit(_ value: Any) {
            if let object = value as? [String: Any] {
                for (key, child) in object {
                    if ["expr", "query", "definition"].contains(key), let text = child as? String {
                        found.append(text)
                    } else {
                        visit(child)
                    }
                }
            } else if let array = value as? [Any] {
                array.forEach(visit)
            }
        }
        visit(root)
        return found
    }

    /// `text` with YAML/shell comments removed: from a `#` at a line start or after whitespace.
    static func withoutComments(_ text: String) -> String {
        text.components(separatedBy: "\n").map { line -> Substring in
            var previous: Character = " "
            for index in line.indices {
                if line[index] == "#", previous == " " || previous == "\t" { return line[..<index] }
                previous = line[index]
            }
            return line[...]
        }.joined(separator: "\n")
    }

    /// The first capture group of every match of `pattern` in `text`.
    static func matches(of pattern: String, in text: String) -> [String] {
        guard let regex = try? NSRegularExpression(pattern: pattern) else {
            preconditionFailure("invalid pattern \(pattern)")
        }
        let range = NSRange(text.startIndex..., in: text)
        return regex.matches(in: text, range: range).compactMap { match in
            Range(match.range(at: 1), in: text).map { String(text[$0]) }
        }
    }
}
