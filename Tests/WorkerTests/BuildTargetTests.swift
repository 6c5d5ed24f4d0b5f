import Testing
import Worker

/// The start-up check of the CPU instructions a build needs, on `/proc/cpuinfo` texts.
struct BuildTargetTests {
    static let haswellMachine = """
        processor\t: 0
        vendor_id\t: AuthenticAMD
        flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sse sse2 ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm cmp_legacy abm sse4a bmi1 avx2 smep bmi2
        processor\t: 1
        flags\t\t: fpu
        """

    static let olderMachine = """
        processor\t: 0
        flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sse sse2 ssse3 cx16 sse4_1 sse4_2 popcnt aes xsave avx lahf_lm
        """

    @Test func aHaswellCPURuns() {
        #expect(BuildTarget.haswell.missingFlags(cpuinfo: Self.haswellMachine) == [])
    }

    @Test func anOlderCPUIsToldWhatIsMissing() {
        let missing = BuildTarget.haswell.missingFlags(cpuinfo: Self.olderMachine)
        #expect(missing == ["avx2", "fma", "f16c", "bmi1", "bmi2", "movbe", "abm"])
        let refusal = BuildTarget.haswell.refusal(missing: missing)
        #expect(refusal.contains("compiled for haswell"))
        #expect(refusal.contains("avx2, fma, f16c"))
        #expect(refusal.contains("CHAPERONE_TARGET_CPU=x86-64"))
    }

    @Test func noFlagsLineMeansEverythingIsMissing() {
        #expect(BuildTarget.haswell.missingFlags(cpuinfo: "processor\t: 0\n") == BuildTarget.haswell.requiredFlags)
    }

    /// What benchmarks record of the CPU: the model name and the vector extensions, here a CPU
    /// with AVX-512 and its bf16 instructions beside AVX2.
    @Test func cpuInfoNamesTheModelAndVectorExtensions() {
        let text = """
            processor\t: 0
            model name\t: AMD EPYC 9B14
            flags\t\t: fpu sse sse2 avx fma f16c avx2 avx512f avx512dq avx512_bf16 bmi2
            processor\t: 1
            model name\t: something else
            """
        let cpu = CPUInfo(cpuinfo: text)
        #expect(cpu.model == "AMD EPYC 9B14")
        #expect(cpu.vectorExtensions == ["avx", "avx2", "fma", "f16c", "avx512f", "avx512_bf16"])
        #expect(CPUInfo(cpuinfo: Self.olderMachine).vectorExtensions == ["avx"])
        #expect(CPUInfo(cpuinfo: Self.olderMachine).model == nil)
    }

    @Test func aPortableBuildNeedsNothing() {
        #expect(BuildTarget(cpu: nil, requiredFlags: []).missingFlags(cpuinfo: Self.olderMachine) == [])
    }
}
