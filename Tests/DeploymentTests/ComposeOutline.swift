/// The mapping structure of a block-style YAML document, enough to check a compose file:
/// which keys sit under which (`services` → `worker` → `ports`). Flow collections, anchors
/// and multi-line scalars are carried as values and not looked into.
struct ComposeOutline {
    /// A YAML line the outline could not place, with its 1-based line number.
    struct ParseError: Error, CustomStringConvertible {
        let line: Int
        let reason: String
        var description: String { "compose outline: line \(line): \(reason)" }
    }

    /// Key paths joined with `/`, e.g. `services/worker/environment/CHAPERONE_HTTP_PORT`.
    private(set) var paths: Set<String> = []

    init(yaml: String) throws {
        var stack: [(indent: Int, key: String)] = []
        var blockScalarIndent: Int?
        for (offset, rawLine) in yaml.components(separatedBy: "\n").enumerated() {
            let lineNumber = offset + 1
            if rawLine.contains("\t") { throw ParseError(line: lineNumber, reason: "tab character (YAML indents with spaces)") }
            let line = DeploymentNames.withoutComments(rawLine)
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            let indent = line.prefix { $0 == " " }.count
            if let scalarIndent = blockScalarIndent {
                if indent > scalarIndent { continue }
                blockScalarIndent = nil
            }
            while let last = stack.last, last.indent >= indent { stack.removeLast() }
            if trimmed.hasPrefix("- ") || trimmed == "-" {
                let item = trimmed.dropFirst().trimmingCharacters(in: .whitespaces)
                if item.hasPrefix("|") || item.hasPrefix(">") { blockScalarIndent = indent }
                continue
            }
            guard let colon = Self.keyColon(in: trimmed) else {
                if stack.isEmpty { throw ParseError(line: lineNumber, reason: "top-level line is not a `key:` mapping entry") }
                continue
            }
            var key = String(trimmed[..<colon])
            if key.hasPrefix("\"") || key.hasPrefix("'") { key = String(key.dropFirst().dropLast()) }
            let value = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            paths.insert((stack.map(\.key) + [key]).joined(separator: "/"))
            if value.hasPrefix("|") || value.hasPrefix(">") { blockScalarIndent = indent }
            stack.append((indent, key))
        }
    }

    /// The direct children of `path` (`""` for the top level).
    func children(of path: String) -> Set<String> {
        let prefix = path.isEmpty ? "" : path + "/"
        return Set(paths.compactMap { candidate -> String? in
            guard candidate.hasPrefix(prefix) else { return nil }
            let rest = candidate.dropFirst(prefix.count)
            return rest.contains("/") || rest.isEmpty ? nil : String(rest)
        })
    }

    /// Position of the colon ending a mapping key: followed by a space or the line end.
    private static func keyColon(in line: String) -> String.Index? {
        var index = line.startIndex
        while index < line.endIndex {
            if line[index] == ":" {
                let next = line.index(after: index)
                if next == line.endIndex || line[next] == " " { return index }
            }
            index = line.index(after: index)
        }
        return nil
    }
}
