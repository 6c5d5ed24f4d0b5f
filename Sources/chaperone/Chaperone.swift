@main
struct Chaperone {
    static func main() {
        print("chaperone")
    }
}
