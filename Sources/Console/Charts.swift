import AuditStore
import Foundation

/// Server-rendered SVG charts (no script, no library): lines over time, horizontal bars,
/// stacked bars. Text is escaped; sizes are fixed so pages look the same in every browser.
enum SVGChart {
    static let palette = ["#2457c5", "#c55a24", "#1f7a3a", "#7b3fb3", "#a86400", "#b3261e", "#0f7c8c", "#5b6475"]

    /// One line per series over shared time buckets (x: microseconds since 1970).
    static func lines(id: String, series: [(name: String, points: [(x: Int64, y: Int)])], unit: String) -> String {
        let width = 1040.0, height = 260.0, left = 44.0, right = 120.0, top = 14.0, bottom = 34.0
        let xs = series.flatMap { $0.points.map(\.x) }
        let maxY = max(1, series.flatMap { $0.points.map(\.y) }.max() ?? 1)
        guard let minX = xs.min(), let maxX = xs.max() else { return empty(id: id, "No decision yet.") }
        let plotW = width - left - right, plotH = height - top - bottom
        func px(_ x: Int64) -> Double { maxX == minX ? left + plotW / 2 : left + Double(x - minX) / Double(maxX - minX) * plotW }
        func py(_ y: Int) -> Double { top + plotH - Double(y) / Double(maxY) * plotH }
        var svg = open(id: id, width: width, height: height)
        svg += axes(left: left, top: top, plotW: plotW, plotH: plotH, maxLabel: "\(maxY)")
        svg += text(x: left, y: height - 8, "\(label(minX, unit: unit))", anchor: "start")
        if maxX != minX { svg += text(x: left + plotW, y: height - 8, "\(label(maxX, unit: unit))", anchor: "end") }
        svg += text(x: left + plotW / 2, y: height - 8, "per \(unit)", anchor: "middle", muted: true)
        for (i, s) in series.enumerated() {
            let colour = palette[i % palette.count]
            let points = s.points.sorted { $0.x < $1.x }
            if points.count > 1 {
                svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " "))\"/>"
            }
            for p in points {
                svg += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"3\" fill=\"\(colour)\"><title>\(HTML.escape(s.name)) \(label(p.x, unit: unit)): \(p.y)</title></circle>"
            }
            let ly = top + 12 + Double(i) * 16
            svg += "<rect x=\"\(f(width - right + 10))\" y=\"\(f(ly - 9))\" width=\"10\" height=\"10\" fill=\"\(colour)\"/>"
            svg += text(x: width - right + 26, y: ly, s.name, anchor: "start")
        }
        return svg + "</svg>"
    }

    /// Horizontal bars of rates in 0…1, each with its label and a note (e.g. `3 of 10`).
    static func rateBars(id: String, bars: [(label: String, rate: Double, note: String)], emptyText: String) -> String {
        guard !bars.isEmpty else { return empty(id: id, emptyText) }
        let width = 560.0, labelW = 250.0, noteW = 100.0, row = 22.0, top = 6.0
        let height = top * 2 + Double(bars.count) * row
        let plotW = width - labelW - noteW
        var svg = open(id: id, width: width, height: height)
        for (i, bar) in bars.enumerated() {
            let y = top + Double(i) * row
            let w = max(0, min(1, bar.rate)) * plotW
            svg += text(x: labelW - 6, y: y + 15, bar.label, anchor: "end")
            svg += "<rect x=\"\(f(labelW))\" y=\"\(f(y + 3))\" width=\"\(f(plotW))\" height=\"16\" fill=\"#eef0f4\"/>"
            svg += "<rect x=\"\(f(labelW))\" y=\"\(f(y + 3))\" width=\"\(f(w))\" height=\"16\" fill=\"\(palette[0])\"><title>\(HTML.escape(bar.label)): \(HTML.percent(bar.rate))</title></rect>"
            svg += text(x: labelW + plotW + 6, y: y + 15, "\(HTML.percent(bar.rate)) · \(bar.note)", anchor: "start")
        }
        return svg + "</svg>"
    }

    /// Stacked horizontal bars of counts, with a legend.
    static func stacked(id: String, rows: [(label: String, parts: [Int])], parts: [String], emptyText: String) -> String {
        guard !rows.isEmpty else { return empty(id: id, emptyText) }
        let width = 560.0, labelW = 120.0, row = 24.0, top = 26.0
        let height = top + Double(rows.count) * row + 6
        let plotW = width - labelW - 60
        let maxTotal = max(1, rows.map { $0.parts.reduce(0, +) }.max() ?? 1)
        var svg = open(id: id, width: width, height: height)
        for (i, name) in parts.enumerated() {
            let x = labelW + Double(i) * 130
            svg += "<rect x=\"\(f(x))\" y=\"6\" width=\"10\" height=\"10\" fill=\"\(palette[(i + 2) % palette.count])\"/>"
            svg += text(x: x + 14, y: 15, name, anchor: "start")
        }
        for (r, item) in rows.enumerated() {
            let y = top + Double(r) * row
            svg += text(x: labelW - 6, y: y + 15, item.label, anchor: "end")
            var x = labelW
            for (i, value) in item.parts.enumerated() where value > 0 {
                let w = Double(value) / Double(maxTotal) * plotW
                svg += "<rect x=\"\(f(x))\" y=\"\(f(y + 3))\" width=\"\(f(w))\" height=\"16\" fill=\"\(palette[(i + 2) % palette.count])\"><title>\(HTML.escape(item.label)) \(HTML.escape(parts[i])): \(value)</title></rect>"
                x += w
            }
            svg += text(x: x + 6, y: y + 15, "\(item.parts.reduce(0, +))", anchor: "start")
        }
        return svg + "</svg>"
    }

    private static func open(id: String, width: Double, height: Double) -> String {
        "<svg id=\"\(HTML.escape(id))\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(f(width)) \(f(height))\" width=\"\(f(width))\" height=\"\(f(height))\" font-family=\"DejaVu Sans, sans-serif\" font-size=\"11\">"
    }

    private static func axes(left: Double, top: Double, plotW: Double, plotH: Double, maxLabel: String) -> String {
        "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(top + plotH))\" stroke=\"#9aa3b2\"/>"
            + "<line x1=\"\(f(left))\" y1=\"\(f(top + plotH))\" x2=\"\(f(left + plotW))\" y2=\"\(f(top + plotH))\" stroke=\"#9aa3b2\"/>"
            + "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left + plotW))\" y2=\"\(f(top))\" stroke=\"#eef0f4\"/>"
            + text(x: left - 6, y: top + 4, maxLabel, anchor: "end") + text(x: left - 6, y: top + plotH + 4, "0", anchor: "end")
    }

    private static func empty(id: String, _ message: String) -> String {
        "<p class=\"muted\" id=\"\(HTML.escape(id))\">\(HTML.escape(message))</p>"
    }

    private static func text(x: Double, y: Double, _ content: String, anchor: String, muted: Bool = false) -> String {
        "<text x=\"\(f(x))\" y=\"\(f(y))\" text-anchor=\"\(anchor)\" fill=\"\(muted ? "#5b6475" : "#1d2330")\">\(HTML.escape(content))</text>"
    }

    private static func f(_ v: Double) -> String { String(format: "%.1f", v) }

    private static func label(_ micros: Int64, unit: String) -> String {
        let t = HTML.time(SQLTimestamp(microsecondsSince1970: micros))
        switch unit {
        case "day": return String(t.prefix(10))
        default: return String(t.prefix(16)) + "Z"
        }
    }
}

extension Pages {
    static func charts(session: ConsoleSession, data: ChartData, rawRange: [String: String] = [:]) -> String {
        func field(_ key: String) -> String { HTML.escape(rawRange[key] ?? "") }
        let shown: String
        if let first = data.overTime.first?.bucket, let last = data.overTime.last?.bucket {
            shown = "\(data.overTime.reduce(0) { $0 + $1.count }) decisions, \(data.bucketUnit) buckets from \(HTML.time(first)) to \(HTML.time(last))"
        } else {
            shown = "no decision in this range"
        }
        let scope = data.range.isDefault ? "the 30 days before the newest decision" : "the chosen range"
        var byTenant: [String: [(x: Int64, y: Int)]] = [:]
        for p in data.overTime { byTenant[p.tenant, default: []].append((p.bucket.microsecondsSince1970, p.count)) }
        // Every bucket from the first to the last counts, including those without decisions (up to
        // 500 of them; more would crowd the chart, which then shows the buckets that have some).
        // A tenant without decisions in a bucket counts 0 there.
        var buckets = Set(data.overTime.map { $0.bucket.microsecondsSince1970 })
        let width: Int64 = data.bucketUnit == "minute" ? 60_000_000 : data.bucketUnit == "hour" ? 3_600_000_000 : 86_400_000_000
        if let first = buckets.min(), let last = buckets.max(), (last - first) / width <= 500 {
            buckets.formUnion(stride(from: first, through: last, by: Int(width)))
        }
        let series = byTenant.keys.sorted().map { tenant -> (name: String, points: [(x: Int64, y: Int)]) in
            let counts = Dictionary(byTenant[tenant]!.map { ($0.x, $0.y) }, uniquingKeysWith: +)
            return (name: tenant, points: buckets.sorted().map { (x: $0, y: counts[$0] ?? 0) })
        }
        let overModeration = data.overModeration.map {
            (label: "\($0.tenant) · SafeGen \($0.safegen ? "on" : "off")", rate: $0.rate, note: "\($0.overModerated) of \($0.requests)")
        }
        let amplification = data.amplification.map {
            (label: "\($0.attribute)=\($0.value) · \($0.harmType)", rate: $0.rate, note: "\($0.amplified) of \($0.requests)")
        }
        let escalation = data.escalation.map { (label: $0.tenant, parts: [$0.firstTryPassed, $0.rescued, $0.blocked]) }
        let overturn = data.overturnRates.map { (label: "\($0.scorer) · \($0.category)", rate: $0.rate, note: "\($0.overturned) of \($0.reviewed)") }
        let body = """
            <h1>Charts</h1>
            <form class="filters" method="get" action="/charts" id="chart-range">
            <label>From (UTC)<input type="datetime-local" name="from" id="c-from" value="\(field("from"))"></label>
            <label>To (UTC)<input type="datetime-local" name="to" id="c-to" value="\(field("to"))"></label>
            <button class="primary" type="submit" id="c-apply">Show</button> <a href="/charts">last 30 days</a>
            </form>
            <div class="charts">
            <div class="chart wide"><h2>Decisions over time per tenant</h2><p class="muted" id="chart-over-time-range">Over \(scope): \(shown).</p>\(SVGChart.lines(id: "chart-over-time", series: series, unit: data.bucketUnit))</div>
            <p class="muted wide">The charts below cover every decision in the audit log.</p>
            <div class="chart"><h2>Over-moderation of benign prompts about people</h2>\(SVGChart.rateBars(id: "chart-over-moderation", bars: overModeration, emptyText: "No benign prompt about people yet."))</div>
            <div class="chart"><h2>Harm amplification by group</h2>\(SVGChart.rateBars(id: "chart-amplification", bars: amplification, emptyText: "No request with attributes or prompt groups and amplification scores yet."))</div>
            <div class="chart"><h2>Escalation outcomes per tenant</h2>\(SVGChart.stacked(id: "chart-escalation", rows: escalation, parts: ["first try passed", "rescued", "blocked"], emptyText: "No tenant escalates yet."))</div>
            <div class="chart"><h2>Overturn rate per scorer and category</h2>\(SVGChart.rateBars(id: "chart-overturn", bars: overturn, emptyText: "No reviewed decision yet."))</div>
            </div>
            """
        return HTML.page(title: "Charts", session: session, current: "/charts", body)
    }
}
