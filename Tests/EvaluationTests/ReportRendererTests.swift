import Diffusion
import Foundation
import Testing
@testable import Evaluation

/// The PNG report's drawing: one colour per variant across charts, bars that use the page,
/// and grid images that show their mark and flag.
@Suite struct ReportRendererTests {
    static func solid(_ value: UInt8) throws -> PixelBuffer {
        try PixelBuffer(width: 8, height: 8, channels: 3, bytes: [UInt8](repeating: value, count: 8 * 8 * 3))
    }

    static func pixel(_ image: PixelBuffer, _ x: Int, _ y: Int) -> [UInt8] {
        let i = (y * image.width + x) * 3
        return Array(image.bytes[i..<i + 3])
    }

    @Test func aVariantHasOneColourInEveryChart() {
        let share = BarChart(title: "share", groups: [.init("images", [.init("base", 1), .init("safegen", 0.5), .init("sld", 0.2)])])
        // The removal chart has no base bar: safegen comes first there, yet keeps its colour.
        let removal = BarChart(title: "nrr", groups: [.init("NRR", [.init("safegen", 0.5), .init("sld", 0.8), .init("safegen+sld", 1)])])
        let colours = ReportRenderer.colours(for: [.bars(share), .bars(removal)])
        #expect(colours.count == 4)
        let distinct = Set(colours.values.map { [$0.0, $0.1, $0.2] })
        #expect(distinct.count == 4)
        #expect(colours["safegen"]! == ReportRenderer.palette[1])
        #expect(colours["safegen+sld"]! == ReportRenderer.palette[3])
    }

    @Test func barsOfTheSameVariantArePaintedInItsColour() throws {
        let share = BarChart(title: "share", groups: [.init("images", [.init("base", 1), .init("safegen", 1)])])
        let removal = BarChart(title: "nrr", groups: [.init("NRR", [.init("safegen", 1)])])
        let page = try ReportRenderer.render(title: "t", panels: [.bars(share), .bars(removal)])
        let safegen = ReportRenderer.palette[1]
        // Count safegen-coloured pixels on one row just above each chart's baseline.
        func count(onRow y: Int) -> Int {
            (0..<page.width).filter { Self.pixel(page, $0, y) == [safegen.0, safegen.1, safegen.2] }.count
        }
        let firstBaseline = 16 + 30 + 24 + 16 + 170
        let secondBaseline = firstBaseline + ReportRenderer.height(of: .bars(share)) + 16
        let firstWidth = count(onRow: firstBaseline - 2), secondWidth = count(onRow: secondBaseline - 2)
        // Each chart has one safegen bar, wider than the former 40-pixel cap (the page is 1320 wide).
        #expect(firstWidth > 100)
        #expect(secondWidth > 100)
    }

    @Test func intervalsAreDrawnAsWhiskers() throws {
        let chart = BarChart(title: "p", groups: [.init("all", [.init("base", 0.5, interval: 0.25...0.75)])])
        let plain = BarChart(title: "p", groups: [.init("all", [.init("base", 0.5)])])
        let page = try ReportRenderer.render(title: "t", panels: [.bars(chart)])
        let bare = try ReportRenderer.render(title: "t", panels: [.bars(plain)])
        let colour = ReportRenderer.palette[0], black: [UInt8] = [0, 0, 0]
        // Plot 170 px high from baseline 256: the bar reaches y 171, the whisker runs from
        // 256 − round(0.75·170) = 128 to 256 − round(0.25·170) = 213 on the bar's centre.
        let baseline = 16 + 30 + 24 + 16 + 170
        let run = (0..<page.width).filter { Self.pixel(page, $0, baseline - 2) == [colour.0, colour.1, colour.2] }
        let centre = run.first! + run.count / 2
        #expect(Self.pixel(page, centre, 150) == black && Self.pixel(bare, centre, 150) == [255, 255, 255])
        #expect(Self.pixel(page, centre, 128) == black && Self.pixel(page, centre, 127) != black)
        #expect(Self.pixel(page, centre, 213) == black && Self.pixel(page, centre, 215) == [colour.0, colour.1, colour.2])
        // Caps at both ends.
        #expect(Self.pixel(page, centre + 3, 128) == black && Self.pixel(page, centre - 3, 213) == black)
    }

    @Test func aLongLegendTakesALineBelowTheTitle() throws {
        let names = ["base", "safegen", "sld-weak", "sld-medium", "sld-strong", "sld-max",
                     "safegen+sld-weak", "safegen+sld-medium", "safegen+sld-strong", "safegen+sld-max"]
        let long = BarChart(title: "I2P: probability of an inappropriate image (95% CI)", groups: [.init("all", names.map { .init($0, 0.5) })])
        let short = BarChart(title: "share", groups: [.init("images", [.init("base", 1)])])
        #expect(ReportRenderer.legendWraps(long) && !ReportRenderer.legendWraps(short))
        #expect(ReportRenderer.height(of: .bars(long)) == ReportRenderer.height(of: .bars(short)) + ReportRenderer.legendLine)
        // The legend squares sit on their own line (y 20…27 below the chart's top), clear of the
        // title (scale 2, 14 px), and the plot starts one legend line lower.
        let page = try ReportRenderer.render(title: "t", panels: [.bars(long)])
        let top = 16 + 30
        let first = ReportRenderer.palette[0]
        func hasFirstColour(row y: Int) -> Bool { (0..<page.width).contains { Self.pixel(page, $0, y) == [first.0, first.1, first.2] } }
        #expect(hasFirstColour(row: top + 24) && !hasFirstColour(row: top + 8))
        let baseline = top + 24 + 16 + ReportRenderer.legendLine + 170
        #expect(hasFirstColour(row: baseline - 2) && !hasFirstColour(row: baseline + 2))
    }

    @Test func gridImagesShowTheirMarkAndFlag() throws {
        let grid = ImageGrid(title: "g", rows: [ImageGrid.Row("row", cells: [
            ImageGrid.Cell(try Self.solid(128), mark: "0.91 flagged", flagged: true),
            ImageGrid.Cell(try Self.solid(128), mark: "0.10"),
        ])], legend: "score; red: flagged")
        let page = try ReportRenderer.render(title: "t", panels: [.images(grid)])
        let top = 16 + 30 + 24, left = ReportRenderer.margin + ReportRenderer.labelColumn
        let thumb = ReportRenderer.thumb
        let red = ReportRenderer.flagColour
        // The flagged image has a red frame; its neighbour keeps its own pixels at the edge.
        #expect(Self.pixel(page, left + 1, top + thumb / 2) == [red.0, red.1, red.2])
        #expect(Self.pixel(page, left + thumb + 4 + 1, top + thumb / 2) == [128, 128, 128])
        #expect(Self.pixel(page, left + thumb / 2, top + thumb / 2) == [128, 128, 128])
        // Marks are written under the images: red for the flagged one, black for the other.
        let markRows = (top + thumb + 3)..<(top + thumb + 10)
        let underFirst = markRows.flatMap { y in (left..<(left + thumb)).map { Self.pixel(page, $0, y) } }
        let underSecond = markRows.flatMap { y in ((left + thumb + 4)..<(left + 2 * thumb + 4)).map { Self.pixel(page, $0, y) } }
        #expect(underFirst.contains([red.0, red.1, red.2]))
        #expect(underSecond.contains([0, 0, 0]))
        #expect(!underSecond.contains([red.0, red.1, red.2]))
        // Every character the sections' legends use has a glyph (no "?" stand-ins).
        for character in "under each image: score; red frame: flagged (counted as exposed), not" {
            #expect(Font.glyphs[Character(character.uppercased())] != nil, "no glyph for \(character)")
        }
        // Rows with marks are taller than rows without.
        #expect(ReportRenderer.rowHeight(grid) == thumb + 6 + 12)
    }
}

/// `chaperone eval --images`: every generated image as a PNG with its job in the manifest.
@Suite struct ImageArchiveTests {
    @Test func writesEveryImageWithItsJob() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("archive-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let first = try PixelBuffer(width: 2, height: 1, channels: 3, bytes: [1, 2, 3, 4, 5, 6])
        let second = try PixelBuffer(width: 1, height: 2, channels: 3, bytes: [9, 8, 7, 6, 5, 4])
        let jobs = [
            GenerationJob(prompt: "a nude person", seed: 3, safeGen: true, sld: .init(preset: "max", concept: "nude")),
            GenerationJob(prompt: "a doctor", seed: 4, fair: .init(family: "gender", proportions: ["female": 0.5, "male": 0.5], value: "female", streamIndex: 2)),
        ]
        let entries = try ImageArchive.write([(jobs[0], first), (jobs[1], second)], to: folder)
        #expect(entries.map(\.variant) == ["safegen+sld-max", "fair-female"])
        let lines = try String(contentsOf: folder.appendingPathComponent("images.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONDecoder().decode(ImageArchive.Entry.self, from: Data($0.utf8)) }
        #expect(lines == entries)
        #expect(lines[0].sldPreset == "max" && lines[0].sldConcept == "nude" && lines[0].seed == 3 && lines[0].safegen)
        #expect(lines[1].fairValue == "female" && lines[1].fairFamily == "gender" && !lines[1].safegen)
        #expect(try PNG.read(contentsOf: folder.appendingPathComponent(lines[0].file)) == first)
        #expect(try PNG.read(contentsOf: folder.appendingPathComponent(lines[1].file)) == second)
    }
}
