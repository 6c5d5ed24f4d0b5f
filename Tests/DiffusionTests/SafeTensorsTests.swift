import Foundation
import Testing
import Tensor
@testable import Diffusion
import TestSupport

/// Fixtures written by ops/reference/make_text_encoder_fixtures.py.
private let safetensorsFixtures = TestPaths.fixture("safetensors")

/// A scratch directory removed when the value goes away.
final class ScratchDirectory {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("chaperone-st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }

    func write(_ bytes: [UInt8], name: String = "model.safetensors") throws -> URL {
        let file = url.appendingPathComponent(name)
        try Data(bytes).write(to: file)
        return file
    }
}

/// A file made by hand: 8-byte length, the header text, then `data` bytes.
func handMadeFile(header: String, data: [UInt8], lengthOverride: UInt64? = nil) -> [UInt8] {
    let json = Array(header.utf8)
    let length = lengthOverride ?? UInt64(json.count)
    return withUnsafeBytes(of: length.littleEndian, Array.init) + json + data
}

/// Opens `bytes` as a safetensors file and returns the error it throws (or nil).
func openError(_ bytes: [UInt8]) throws -> DiffusionError? {
    let scratch = try ScratchDirectory()
    let file = try scratch.write(bytes)
    do {
        _ = try SafeTensorsFile(url: file)
        return nil
    } catch let error as DiffusionError {
        return error
    }
}

struct SafeTensorsTests {
    @Test("F32, F16 and BF16 written by the Python safetensors package read back bit-exact")
    func readsPythonWrittenDTypes() throws {
        struct Expected: Decodable {
            struct Entry: Decodable { var dtype: String; var shape: [Int]; var bits: [UInt32] }
            var metadata: [String: String]
            var tensors: [String: Entry]
        }
        let expected = try JSONDecoder().decode(
            Expected.self, from: Data(contentsOf: safetensorsFixtures.appendingPathComponent("dtypes.json")))
        let file = try SafeTensorsFile(url: safetensorsFixtures.appendingPathComponent("dtypes.safetensors"))
        #expect(file.metadata == expected.metadata)
        #expect(Set(file.names) == Set(expected.tensors.keys))
        for (name, entry) in expected.tensors {
            let tensor = try file.tensor(name)
            #expect(tensor.shape == entry.shape, "\(name)")
            #expect(tensor.scalars.map(\.bitPattern) == entry.bits, "\(name)")
        }
        #expect(file.info("f16.matrix")?.dtype == .f16)
        #expect(file.info("bf16.special")?.dtype == .bf16)
    }

    @Test("every F16 bit pattern converts like the hardware conversion")
    func halfConversionMatchesFloat16() {
        #if !(os(macOS) && arch(x86_64))
        for bits in 0...UInt16.max {
            let ours = SafeTensorsConversion.halfToFloat(bits)
            let reference = Float(Float16(bitPattern: bits))
            if reference.isNaN {
                #expect(ours.isNaN)
            } else {
                #expect(ours.bitPattern == reference.bitPattern, "half bits \(bits)")
            }
        }
        #endif
    }

    @Test("the writer is deterministic and round-trips through the reader")
    func writerRoundTrip() throws {
        let tensors: [String: Tensor] = [
            "b.weight": Tensor(shape: [2, 3], scalars: [1, -2, 3.5, 0, -0.0, .infinity]),
            "a.bias": Tensor(shape: [3], scalars: [0.25, 0.5, 0.75]),
            "scalar": Tensor(7),
            "empty": Tensor.zeros([0, 5]),
            "quote\"and\\slash": Tensor(shape: [1], scalars: [42]),
        ]
        let first = try SafeTensorsWriter.encode(tensors, metadata: ["format": "pt", "note": "line\nbreak"])
        let second = try SafeTensorsWriter.encode(tensors, metadata: ["note": "line\nbreak", "format": "pt"])
        #expect(first == second)
        let headerLength = first.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect(headerLength % 8 == 0)

        let scratch = try ScratchDirectory()
        let file = try scratch.write(Array(first))
        let read = try SafeTensorsFile(url: file)
        #expect(read.metadata == ["format": "pt", "note": "line\nbreak"])
        #expect(read.names == tensors.keys.sorted())
        for (name, tensor) in tensors {
            let back = try read.tensor(name)
            #expect(back.shape == tensor.shape)
            #expect(back.scalars.map(\.bitPattern) == tensor.scalars.map(\.bitPattern), "\(name)")
        }
    }

    @Test("a well-formed hand-made file opens")
    func handMadeValidFile() throws {
        let bytes = handMadeFile(
            header: #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"BF16","shape":[1],"data_offsets":[8,10]}}  "#,
            data: [0, 0, 128, 63, 0, 0, 0, 64, 128, 63])
        let scratch = try ScratchDirectory()
        let file = try SafeTensorsFile(url: try scratch.write(bytes))
        #expect(try file.tensor("x").scalars == [1, 2])
        #expect(try file.tensor("y").scalars == [1])
    }

    @Test("bad files are errors naming the file and the tensor", arguments: [
        // (case, bytes, code, text the message must contain)
        ("empty file", [], DiffusionError.Code.invalidSafeTensors, "shorter than the 8-byte"),
        ("truncated length", [1, 2, 3], .invalidSafeTensors, "shorter than the 8-byte"),
        ("header length beyond file",
         handMadeFile(header: #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0], lengthOverride: 4096),
         .invalidSafeTensors, "runs past the end of the file"),
        ("huge header length",
         handMadeFile(header: "{}", data: [], lengthOverride: UInt64.max), .invalidSafeTensors, "exceeds"),
        ("truncated data",
         handMadeFile(header: #"{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: [0, 0, 0, 0]),
         .invalidSafeTensors, "'x'"),
        ("overlapping offsets",
         handMadeFile(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                      data: [UInt8](repeating: 0, count: 12)),
         .invalidSafeTensors, "overlap"),
        ("gap between tensors",
         handMadeFile(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#,
                      data: [UInt8](repeating: 0, count: 12)),
         .invalidSafeTensors, "unused"),
        ("trailing bytes",
         handMadeFile(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: [UInt8](repeating: 0, count: 9)),
         .invalidSafeTensors, "cover only 4"),
        ("shape product mismatch",
         handMadeFile(header: #"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}"#, data: [UInt8](repeating: 0, count: 20)),
         .invalidSafeTensors, "needs 24 bytes"),
        ("unknown dtype",
         handMadeFile(header: #"{"w":{"dtype":"F12","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
         .unsupportedDType, "'w'"),
        ("huge shape",
         handMadeFile(header: #"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
         .invalidSafeTensors, "overflow"),
        ("offset beyond 64 bits",
         handMadeFile(header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,99999999999999999999999]}}"#, data: [0, 0, 0, 0]),
         .invalidSafeTensors, "data_offsets"),
        ("negative dimension",
         handMadeFile(header: #"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
         .invalidSafeTensors, "negative"),
        ("header not JSON",
         handMadeFile(header: "{not json", data: []), .invalidSafeTensors, "does not parse"),
        ("header not an object",
         handMadeFile(header: "[1, 2]", data: []), .invalidSafeTensors, "not a JSON object"),
        ("metadata not strings",
         handMadeFile(header: #"{"__metadata__":{"a":1}}"#, data: []), .invalidSafeTensors, "__metadata__"),
    ] as [(String, [UInt8], DiffusionError.Code, String)])
    func badFiles(_ name: String, _ bytes: [UInt8], _ code: DiffusionError.Code, _ fragment: String) throws {
        let error = try #require(try openError(bytes), "\(name) must be rejected")
        #expect(error.code == code, "\(name): \(error)")
        #expect(error.message.contains(fragment), "\(name): \(error)")
        #expect(error.message.contains("model.safetensors"), "\(name): message must name the file: \(error)")
    }

    @Test("a dtype that does not convert to float32 is an error when read")
    func integerTensorIsNotFloat() throws {
        let bytes = handMadeFile(header: #"{"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8))
        let scratch = try ScratchDirectory()
        let file = try SafeTensorsFile(url: try scratch.write(bytes))
        let error = #expect(throws: DiffusionError.self) { try file.tensor("ids") }
        #expect(error?.code == .unsupportedDType)
        #expect(error?.message.contains("'ids'") == true)
    }

    @Test("a missing file is an io error naming it")
    func missingFile() {
        let error = #expect(throws: DiffusionError.self) {
            try SafeTensorsFile(url: URL(fileURLWithPath: "/nonexistent/dir/model.safetensors"))
        }
        #expect(error?.code == .io)
        #expect(error?.message.contains("model.safetensors") == true)
    }
}

struct WeightStoreTests {
    @Test("check() reports unknown, missing and wrong-shape tensors separately by name")
    func report() throws {
        let store = WeightStore(tensors: [
            "a": Tensor.zeros([2, 2]), "b": Tensor.zeros([3]), "extra": Tensor.zeros([1]),
        ])
        let report = store.check(expected: ["a": [2, 2], "b": [4], "c": [1]])
        #expect(report.missing == ["c"])
        #expect(report.unknown == ["extra"])
        #expect(report.wrongShape == [.init(name: "b", expected: [4], actual: [3])])
        #expect(!report.isClean)
        let error = #expect(throws: DiffusionError.self) { try report.throwIfProblems(source: "ckpt") }
        #expect(error?.code == .missingTensor)
        #expect(error?.message.contains("c") == true && error?.message.contains("extra") == true)
        #expect(store.check(expected: ["a": [2, 2], "b": [3], "extra": [1]]).isClean)
    }

    @Test("tensor(_:shape:) rejects wrong shapes and missing names")
    func lookup() throws {
        let store = WeightStore(tensors: ["w": Tensor(shape: [2], scalars: [1, 2])])
        #expect(try store.tensor("w", shape: [2]).scalars == [1, 2])
        #expect(throws: DiffusionError.self) { try store.tensor("w", shape: [1, 2]) }
        #expect(throws: DiffusionError.self) { try store.tensor("nope", shape: [2]) }
    }

    @Test("files and overlays: later overlay replaces only its names; duplicate names across files fail")
    func filesAndOverlay() throws {
        let scratch = try ScratchDirectory()
        let one = scratch.url.appendingPathComponent("one.safetensors")
        let two = scratch.url.appendingPathComponent("two.safetensors")
        try SafeTensorsWriter.write(["x": Tensor(shape: [1], scalars: [1]), "y": Tensor(shape: [1], scalars: [2])], to: one)
        try SafeTensorsWriter.write(["y": Tensor(shape: [1], scalars: [20])], to: two)
        #expect(throws: DiffusionError.self) { try WeightStore(files: [one, two]) }
        let base = try WeightStore(files: [one])
        let merged = base.overlaid(with: try WeightStore(files: [two]))
        #expect(try merged.tensor("x").scalars == [1])
        #expect(try merged.tensor("y").scalars == [20])
        #expect(try base.tensor("y").scalars == [2])
    }

    @Test("a shard index that lies about a shard's contents or escapes the folder is an error")
    func badIndex() throws {
        let scratch = try ScratchDirectory()
        try SafeTensorsWriter.write(["x": Tensor(shape: [1], scalars: [1])], to: scratch.url.appendingPathComponent("part-1.safetensors"))
        let index = scratch.url.appendingPathComponent("model.safetensors.index.json")

        try Data(#"{"weight_map":{"x":"part-1.safetensors","y":"part-1.safetensors"}}"#.utf8).write(to: index)
        let lying = #expect(throws: DiffusionError.self) { try WeightStore.load(folder: scratch.url) }
        #expect(lying?.code == .missingTensor)
        #expect(lying?.message.contains("'y'") == true)

        try Data(#"{"weight_map":{"x":"../part-1.safetensors"}}"#.utf8).write(to: index)
        let escaping = #expect(throws: DiffusionError.self) { try WeightStore.load(folder: scratch.url) }
        #expect(escaping?.code == .invalidConfig)

        try Data(#"{"weight_map":{"x":"part-1.safetensors"}}"#.utf8).write(to: index)
        #expect(try WeightStore.load(folder: scratch.url).names == ["x"])
    }
}
