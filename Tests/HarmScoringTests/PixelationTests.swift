import Testing
@testable import HarmScoring

@Suite struct PixelationTests {
    /// A reference written the slow way: for each pixel in a region, the mean of the pixels that
    /// share its grid cell and lie inside the region.
    private func naive(_ source: [UInt8], width: Int, height: Int, channels: Int, region: PixelRect, block: Int) -> [UInt8] {
        var out = source
        let r = region.clipped(width: width, height: height)
        func inside(_ x: Int, _ y: Int) -> Bool { x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height }
        for y in 0..<height {
            for x in 0..<width where inside(x, y) {
                for c in 0..<channels {
                    var sum = 0, count = 0
                    for yy in 0..<height where yy / block == y / block {
                        for xx in 0..<width where xx / block == x / block && inside(xx, yy) {
                            sum += Int(source[(yy * width + xx) * channels + c]); count += 1
                        }
                    }
                    out[(y * width + x) * channels + c] = UInt8((sum + count / 2) / count)
                }
            }
        }
        return out
    }

    @Test(arguments: [
        PixelRect(x: 0, y: 0, width: 13, height: 11),
        PixelRect(x: 3, y: 2, width: 7, height: 5),
        PixelRect(x: -4, y: 8, width: 9, height: 30),
        PixelRect(x: 12, y: 10, width: 1, height: 1),
    ])
    func matchesTheNaiveMosaic(region: PixelRect) {
        let width = 13, height = 11, channels = 3
        var pixels: [UInt8] = (0..<(width * height * channels)).map { (index: Int) -> UInt8 in
            let mixed: Int = index * 37 + (index / 7) * 11
            return UInt8(mixed % 256)
        }
        let expected = naive(pixels, width: width, height: height, channels: channels, region: region, block: 4)
        Pixelation.apply(to: &pixels, width: width, height: height, channels: channels, regions: [region], blockSize: 4)
        #expect(pixels == expected)
    }

    @Test func outsideTheRegionNothingChangesAndEmptyRegionsAreIgnored() {
        let width = 8, height = 8
        let original: [UInt8] = (0..<(width * height * 3)).map { (index: Int) -> UInt8 in UInt8(index % 251) }
        var pixels = original
        Pixelation.apply(
            to: &pixels, width: width, height: height, channels: 3,
            regions: [PixelRect(x: 2, y: 2, width: 2, height: 2), PixelRect(x: 20, y: 20, width: 5, height: 5)],
            blockSize: 8)
        for y in 0..<height {
            for x in 0..<width where !(2..<4).contains(x) || !(2..<4).contains(y) {
                for c in 0..<3 { #expect(pixels[(y * width + x) * 3 + c] == original[(y * width + x) * 3 + c]) }
            }
        }
        #expect(pixels != original)
    }
}
