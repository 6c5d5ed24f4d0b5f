// libFuzzer entry: ops/fuzz/run safetensors
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    SafeTensorsFuzz.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
