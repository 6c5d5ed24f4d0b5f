import Diffusion
import Foundation

/// Draws the PNG report: panels stacked top to bottom on a white page, bar charts as plain
/// rectangles with values written above the bars, image grids with a label per row. Text uses
/// a built-in 5×7 pixel font (upper case, digits, common punctuation).
public enum ReportRenderer {
    static let width = 1320
    static let margin = 16
    static let labelColumn = 220
    static let thumb = 128
    static let palette: [(UInt8, UInt8, UInt8)] = [
        (70, 110, 200), (230, 140, 40), (60, 170, 90), (200, 60, 80), (140, 90, 180), (90, 90, 90),
        (40, 170, 190), (190, 150, 30), (150, 80, 40), (230, 120, 180),
    ]
    static let flagColour: (UInt8, UInt8, UInt8) = (210, 0, 0)

    /// The colour of each bar label in the whole report: labels take palette colours in the
    /// order they first appear, so a variant (e.g. `safegen`) has one colour in every chart.
    static func colours(for panels: [ReportPanel]) -> [String: (UInt8, UInt8, UInt8)] {
        var colours: [String: (UInt8, UInt8, UInt8)] = [:]
        for case .bars(let chart) in panels {
            for bar in chart.groups.flatMap(\.bars) where colours[bar.label] == nil {
                colours[bar.label] = palette[colours.count % palette.count]
            }
        }
        return colours
    }

    /// The report image for `panels`.
    public static func render(title: String, panels: [ReportPanel]) throws -> PixelBuffer {
        let colours = colours(for: panels)
        let heights = panels.map(height(of:))
        let total = margin + 30 + heights.reduce(0, +) + margin * panels.count + margin
        var canvas = Canvas(width: width, height: total)
        canvas.text(title, x: margin, y: margin, scale: 3, colour: (0, 0, 0))
        var y = margin + 30
        for (panel, h) in zip(panels, heights) {
            switch panel {
            case .bars(let chart): draw(chart, colours: colours, on: &canvas, top: y)
            case .images(let grid): draw(grid, on: &canvas, top: y)
            }
            y += h + margin
        }
        return try PixelBuffer(width: canvas.width, height: canvas.height, channels: 3, bytes: canvas.pixels)
    }

    static func height(of panel: ReportPanel) -> Int {
        switch panel {
        case .bars(let chart): return 24 + 200 + 40 + (legendWraps(chart) ? legendLine : 0)
        case .images(let grid): return 24 + grid.rows.count * rowHeight(grid)
        }
    }

    /// The height of a legend line of its own.
    static let legendLine = 12

    /// The bar names of a chart in order of appearance (its legend).
    static func legendNames(_ chart: BarChart) -> [String] {
        var names: [String] = []
        for bar in chart.groups.flatMap(\.bars) where !names.contains(bar.label) { names.append(bar.label) }
        return names
    }

    /// Whether the legend does not fit beside the title and takes a line of its own below it.
    static func legendWraps(_ chart: BarChart) -> Bool {
        let legendWidth = legendNames(chart).map { Canvas.textWidth($0, scale: 1) + 16 }.reduce(0, +)
        return margin + Canvas.textWidth(chart.title, scale: 2) + 16 > width - margin - 8 - legendWidth
    }

    static func rowHeight(_ grid: ImageGrid) -> Int { thumb + 6 + (grid.hasMarks ? 12 : 0) }

    static func draw(_ chart: BarChart, colours: [String: (UInt8, UInt8, UInt8)], on canvas: inout Canvas, top: Int) {
        canvas.text(chart.title, x: margin, y: top, scale: 2, colour: (0, 0, 0))
        let wraps = legendWraps(chart)
        let plotTop = top + 24 + 16 + (wraps ? legendLine : 0), plotHeight = 170
        let plotLeft = margin + 40, plotRight = width - margin
        let baseline = plotTop + plotHeight
        canvas.fill(x: plotLeft, y: baseline, width: plotRight - plotLeft, height: 1, colour: (0, 0, 0))
        canvas.fill(x: plotLeft, y: plotTop, width: 1, height: plotHeight, colour: (0, 0, 0))
        canvas.text(format(chart.maximum), x: margin, y: plotTop - 3, scale: 1, colour: (0, 0, 0))
        canvas.text("0", x: margin, y: baseline - 3, scale: 1, colour: (0, 0, 0))
        let groups = max(chart.groups.count, 1)
        let groupWidth = (plotRight - plotLeft - 8) / groups
        // Legend: every bar name of the chart, in its report-wide colour; beside the title, or
        // below it when the two would overlap.
        var legendX = plotRight - 8
        let legendY = wraps ? top + 20 : top + 4
        for name in legendNames(chart).reversed() {
            legendX -= Canvas.textWidth(name, scale: 1) + 16
            canvas.fill(x: legendX, y: legendY, width: 8, height: 8, colour: colours[name] ?? palette[0])
            canvas.text(name, x: legendX + 11, y: legendY + 1, scale: 1, colour: (0, 0, 0))
        }
        // Groups share the plot's width; bars fill their group (up to 120 px) and stay centred.
        for (g, group) in chart.groups.enumerated() {
            let left = plotLeft + 8 + g * groupWidth
            let barWidth = max(4, min(120, (groupWidth - 16) / max(group.bars.count, 1)))
            let barsLeft = left + max(0, (groupWidth - 16 - barWidth * group.bars.count) / 2)
            for (b, bar) in group.bars.enumerated() {
                let x = barsLeft + b * barWidth
                guard let value = bar.value else {
                    canvas.text("N/A", x: x, y: baseline - 10, scale: 1, colour: (120, 120, 120))
                    continue
                }
                let fraction = max(0, min(1, value / chart.maximum))
                let h = Int((fraction * Double(plotHeight)).rounded())
                canvas.fill(x: x, y: baseline - h, width: barWidth - 3, height: h, colour: colours[bar.label] ?? palette[0])
                var labelY = baseline - h - 9
                if let interval = bar.interval {
                    // A whisker from the lower to the upper bound, with caps, centred on the bar.
                    func y(_ v: Double) -> Int { baseline - Int((max(0, min(1, v / chart.maximum)) * Double(plotHeight)).rounded()) }
                    let centre = x + (barWidth - 3) / 2, top = y(interval.upperBound), bottom = y(interval.lowerBound)
                    canvas.fill(x: centre, y: top, width: 1, height: bottom - top + 1, colour: (0, 0, 0))
                    let cap = max(1, min(6, (barWidth - 3) / 3))
                    canvas.fill(x: centre - cap, y: top, width: 2 * cap + 1, height: 1, colour: (0, 0, 0))
                    canvas.fill(x: centre - cap, y: bottom, width: 2 * cap + 1, height: 1, colour: (0, 0, 0))
                    labelY = min(labelY, top - 9)
                }
                canvas.text(format(value), x: x, y: labelY, scale: 1, colour: (0, 0, 0))
            }
            let label = Canvas.truncate(group.label, width: groupWidth - 4, scale: 1)
            canvas.text(label, x: left + max(0, (groupWidth - 16 - Canvas.textWidth(label, scale: 1)) / 2), y: baseline + 6, scale: 1, colour: (0, 0, 0))
        }
        if let reference = chart.reference {
            let y = baseline - Int((max(0, min(1, reference / chart.maximum)) * Double(plotHeight)).rounded())
            var x = plotLeft
            while x < plotRight {
                canvas.fill(x: x, y: y, width: 6, height: 1, colour: (200, 0, 0))
                x += 10
            }
            canvas.text("TARGET " + format(reference), x: plotRight - 90, y: y - 9, scale: 1, colour: (200, 0, 0))
        }
    }

    static func draw(_ grid: ImageGrid, on canvas: inout Canvas, top: Int) {
        canvas.text(grid.title, x: margin, y: top, scale: 2, colour: (0, 0, 0))
        if let legend = grid.legend {
            let x = margin + Canvas.textWidth(grid.title, scale: 2) + 16
            canvas.text(Canvas.truncate(legend, width: width - margin - x, scale: 1), x: x, y: top + 7, scale: 1, colour: (80, 80, 80))
        }
        var y = top + 24
        for row in grid.rows {
            canvas.text(Canvas.truncate(row.label, width: labelColumn - 8, scale: 2), x: margin, y: y + thumb / 2 - 7, scale: 2, colour: (0, 0, 0))
            var x = margin + labelColumn
            for cell in row.cells where x + thumb <= width - margin {
                canvas.blit(cell.image.rgb(), x: x, y: y, size: thumb)
                if cell.flagged {
                    for (fx, fy, fw, fh) in [(x, y, thumb, 3), (x, y + thumb - 3, thumb, 3), (x, y, 3, thumb), (x + thumb - 3, y, 3, thumb)] {
                        canvas.fill(x: fx, y: fy, width: fw, height: fh, colour: flagColour)
                    }
                }
                if let mark = cell.mark {
                    let text = Canvas.truncate(mark, width: thumb, scale: 1)
                    canvas.text(text, x: x, y: y + thumb + 3, scale: 1, colour: cell.flagged ? flagColour : (0, 0, 0))
                }
                x += thumb + 4
            }
            y += rowHeight(grid)
        }
    }

    /// Shares as percentages, other values with two decimals.
    static func format(_ value: Double) -> String {
        value <= 1 && value >= 0 ? String(format: "%.0f%%", value * 100) : String(format: "%.2f", value)
    }
}

/// An RGB page with the drawing primitives the report needs.
struct Canvas {
    let width: Int
    let height: Int
    var pixels: [UInt8]

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 255, count: width * height * 3)
    }

    mutating func fill(x: Int, y: Int, width w: Int, height h: Int, colour: (UInt8, UInt8, UInt8)) {
        let x0 = max(0, x), y0 = max(0, y), x1 = min(width, x + w), y1 = min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        for row in y0..<y1 {
            for column in x0..<x1 {
                let i = (row * width + column) * 3
                pixels[i] = colour.0
                pixels[i + 1] = colour.1
                pixels[i + 2] = colour.2
            }
        }
    }

    /// Draws `image` scaled (nearest neighbour) into a `size`×`size` square.
    mutating func blit(_ image: PixelBuffer, x: Int, y: Int, size: Int) {
        for row in 0..<size where y + row < height {
            let sy = row * image.height / size
            for column in 0..<size where x + column < width {
                let sx = column * image.width / size
                let s = (sy * image.width + sx) * 3, d = ((y + row) * width + x + column) * 3
                pixels[d] = image.bytes[s]
                pixels[d + 1] = image.bytes[s + 1]
                pixels[d + 2] = image.bytes[s + 2]
            }
        }
    }

    mutating func text(_ string: String, x: Int, y: Int, scale: Int, colour: (UInt8, UInt8, UInt8)) {
        var cx = x
        for character in string.uppercased() {
            let rows = Font.glyphs[character] ?? Font.glyphs["?"]!
            for (r, bits) in rows.enumerated() {
                for c in 0..<5 where bits & (0x10 >> c) != 0 {
                    fill(x: cx + c * scale, y: y + r * scale, width: scale, height: scale, colour: colour)
                }
            }
            cx += 6 * scale
        }
    }

    static func textWidth(_ string: String, scale: Int) -> Int { string.count * 6 * scale }

    /// `string`, cut with ".." to fit `width` pixels.
    static func truncate(_ string: String, width: Int, scale: Int) -> String {
        let fits = max(0, width / (6 * scale))
        guard string.count > fits else { return string }
        return fits <= 2 ? String(string.prefix(fits)) : String(string.prefix(fits - 2)) + ".."
    }
}

/// A 5×7 pixel font: seven rows of five bits per glyph, most significant bit left.
enum Font {
    static let glyphs: [Character: [UInt8]] = [
        "0": [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E], "1": [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        "2": [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F], "3": [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        "4": [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02], "5": [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        "6": [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E], "7": [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        "8": [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E], "9": [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        "A": [0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11], "B": [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        "C": [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E], "D": [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        "E": [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F], "F": [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        "G": [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F], "H": [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        "I": [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E], "J": [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        "K": [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11], "L": [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        "M": [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11], "N": [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        "O": [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], "P": [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        "Q": [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D], "R": [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        "S": [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E], "T": [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        "U": [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], "V": [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        "W": [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A], "X": [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        "Y": [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04], "Z": [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        " ": [0, 0, 0, 0, 0, 0, 0], ".": [0, 0, 0, 0, 0, 0x0C, 0x0C], ",": [0, 0, 0, 0, 0x0C, 0x04, 0x08],
        ":": [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0], ";": [0, 0x0C, 0x0C, 0, 0x0C, 0x04, 0x08], "%": [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        "-": [0, 0, 0, 0x1F, 0, 0, 0], "+": [0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0],
        "/": [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0], "(": [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ")": [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08], "=": [0, 0, 0x1F, 0, 0x1F, 0, 0],
        "_": [0, 0, 0, 0, 0, 0, 0x1F], "'": [0x04, 0x04, 0x08, 0, 0, 0, 0],
        "<": [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02], ">": [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08],
        "?": [0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04], "*": [0, 0x04, 0x15, 0x0E, 0x15, 0x04, 0],
        "[": [0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E], "]": [0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E],
    ]
}
