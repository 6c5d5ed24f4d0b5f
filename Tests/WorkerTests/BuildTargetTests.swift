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

    @Test func aPortableBuildNeedsNothing() {
        #expect(BuildTarget(cpu: nil, requiredFlags: []).missingFlags(cpuinfo: Self.olderMachine) == [])
    }
}
