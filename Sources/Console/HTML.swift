import AuditStore
import Contracts
import Foundation

/// Small helpers for the server-rendered pages: escaping, and the page frame.
enum HTML {
    /// `text` with the five HTML-special characters escaped (safe in text and quoted attributes).
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // Control characters other than tab and newline are shown as U+FFFD.
                if c.value < 0x20 && c != "\n" && c != "\t" || c.value == 0x7f { out += "\u{FFFD}" } else { out.unicodeScalars.append(c) }
            }
        }
        return out
    }

    /// `value` percent-encoded for a query string.
    static func query(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    /// `2026-12-02 15:40:34Z`: a timestamp to the second, in UTC.
    static func time(_ t: SQLTimestamp) -> String {
        let iso = t.iso8601
        return String(iso.prefix(19)).replacingOccurrences(of: "T", with: " ") + "Z"
    }

    /// A score or rate with 3 decimals.
    static func number(_ value: Double?) -> String {
        guard let value else { return "–" }
        return String(format: "%.3f", value)
    }

    static func percent(_ value: Double) -> String { String(format: "%.1f%%", value * 100) }

    /// A decision as a coloured badge.
    static func badge(_ decision: DecisionRecord.Decision) -> String {
        "<span class=\"badge \(decision.rawValue)\">\(decision.rawValue)</span>"
    }

    /// The hidden CSRF field every form carries.
    static func csrfField(_ token: String) -> String {
        "<input type=\"hidden\" name=\"csrf\" value=\"\(escape(token))\">"
    }

    /// The page frame: head, navigation (when logged in), the content.
    static func page(title: String, session: ConsoleSession?, current: String = "", _ content: String) -> String {
        var nav = ""
        if let session {
            func link(_ path: String, _ name: String) -> String {
                "<a href=\"\(path)\"\(current == path ? " class=\"current\"" : "")>\(name)</a>"
            }
            nav = """
                <nav>\(link("/decisions", "Decisions"))\(link("/charts", "Charts"))\(link("/reviews", "Reviews"))
                <span class="who">\(escape(session.user)) · <span class="role">\(session.role.rawValue)</span></span>
                <form method="post" action="/logout" class="logout">\(csrfField(session.csrfToken))<button type="submit">Log out</button></form></nav>
                """
        }
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title)) · Chaperone audit</title><link rel="stylesheet" href="/static/console.css"></head>
            <body><header><span class="brand">Chaperone audit</span>\(nav)</header>
            <main>\(content)</main></body></html>
            """
    }

    /// JSON as compact, readable text (keys sorted).
    static func json(_ value: JSONValue?) -> String {
        guard let value else { return "–" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "–"
    }

    /// JSON indented, for `<pre>` blocks.
    static func prettyJSON(_ value: JSONValue?) -> String {
        guard let value else { return "–" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "–"
    }

    /// A JSON value as short text: strings bare, the rest as JSON.
    static func scalar(_ value: JSONValue?) -> String {
        switch value {
        case .string(let s)?: s
        case nil, .null?: "–"
        case .integer(let v)?: String(v)
        case .number(let v)?: number(v)
        case .bool(let v)?: v ? "yes" : "no"
        default: json(value)
        }
    }

    static let stylesheet = """
        :root { --fg: #1d2330; --muted: #5b6475; --line: #d9dde5; --bg: #f6f7f9; --accent: #2457c5;
                --allow: #1f7a3a; --censor: #a86400; --block: #b3261e; --rejected: #5b6475; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 "DejaVu Sans", system-ui, sans-serif; color: var(--fg); background: var(--bg); }
        header { display: flex; align-items: center; gap: 24px; padding: 10px 24px; background: #1d2330; color: #fff; }
        header .brand { font-weight: bold; letter-spacing: .02em; }
        nav { display: flex; align-items: center; gap: 16px; flex: 1; }
        nav a { color: #c9d3ea; text-decoration: none; padding: 4px 2px; }
        nav a.current, nav a:hover { color: #fff; border-bottom: 2px solid #fff; }
        nav .who { margin-left: auto; color: #c9d3ea; }
        nav .role { text-transform: uppercase; font-size: 11px; letter-spacing: .06em; }
        nav form.logout button { background: transparent; color: #fff; border: 1px solid #7d8aa6; border-radius: 4px; padding: 3px 10px; cursor: pointer; }
        main { padding: 20px 24px; max-width: 1280px; }
        h1 { font-size: 20px; margin: 0 0 14px; } h2 { font-size: 16px; margin: 22px 0 8px; }
        table { border-collapse: collapse; background: #fff; width: 100%; }
        th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { background: #eef0f4; font-weight: 600; font-size: 12px; color: var(--muted); }
        td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
        code, pre, .mono { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; }
        pre { background: #fff; border: 1px solid var(--line); padding: 10px; overflow: auto; max-height: 360px; white-space: pre-wrap; word-break: break-all; }
        a { color: var(--accent); }
        .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff; font-size: 12px; font-weight: 600; }
        .badge.allow { background: var(--allow); } .badge.censor { background: var(--censor); }
        .badge.block { background: var(--block); } .badge.rejected { background: var(--rejected); }
        .badge.uphold { background: #3d4a63; } .badge.overturn { background: #7b3fb3; }
        form.filters { display: flex; flex-wrap: wrap; gap: 10px 14px; align-items: end; background: #fff; padding: 12px; border: 1px solid var(--line); margin-bottom: 14px; }
        form.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 2px; }
        input, select, textarea, button { font: inherit; }
        input, select, textarea { padding: 4px 6px; border: 1px solid #b9c0cc; border-radius: 4px; background: #fff; }
        button.primary { background: var(--accent); color: #fff; border: 0; border-radius: 4px; padding: 6px 14px; cursor: pointer; }
        .thumb { width: 64px; height: 64px; object-fit: cover; border-radius: 4px; background: #e3e6ec; display: block; }
        .thumb.placeholder { display: flex; align-items: center; justify-content: center; font-size: 10px; color: var(--muted); text-align: center; }
        .blurred { filter: blur(12px); }
        .reveal-box { display: inline-block; position: relative; cursor: pointer; overflow: hidden; border-radius: 6px; }
        .reveal-box input { position: absolute; opacity: 0; width: 1px; height: 1px; }
        .reveal-box img { display: block; width: 320px; height: 320px; object-fit: contain; background: #e3e6ec; image-rendering: pixelated; }
        .reveal-box input:checked + img { filter: none; }
        .reveal-box .hint { position: absolute; left: 0; right: 0; bottom: 8px; text-align: center; color: #fff; font-weight: 600; text-shadow: 0 1px 3px #000; }
        .reveal-box input:checked ~ .hint { display: none; }
        .grid { display: grid; grid-template-columns: 340px 1fr; gap: 24px; align-items: start; }
        dl.facts { display: grid; grid-template-columns: 180px 1fr; gap: 4px 12px; margin: 0; background: #fff; padding: 12px; border: 1px solid var(--line); }
        dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; word-break: break-all; }
        .notice { background: #fff7e0; border: 1px solid #e8cf86; padding: 8px 12px; margin: 8px 0; }
        .error { background: #fdecea; border: 1px solid #e5a39d; padding: 8px 12px; margin: 8px 0; }
        .ok { background: #e8f5ec; border: 1px solid #9bcfaa; padding: 8px 12px; margin: 8px 0; }
        .muted { color: var(--muted); }
        .pager { display: flex; gap: 12px; margin: 12px 0; align-items: center; }
        .login { max-width: 340px; margin: 60px auto; background: #fff; padding: 24px; border: 1px solid var(--line); border-radius: 6px; }
        .login label { display: block; margin: 10px 0 4px; } .login input { width: 100%; }
        .login button { margin-top: 16px; width: 100%; }
        .review-form { background: #fff; border: 1px solid var(--line); padding: 12px; }
        .review-form textarea { width: 100%; min-height: 60px; }
        .chart { background: #fff; border: 1px solid var(--line); padding: 8px; margin-bottom: 8px; }
        .chart svg { display: block; max-width: 100%; height: auto; }
        .charts { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
        .charts .wide { grid-column: 1 / -1; }
        .charts p.wide { margin: 0; }
        """
}
