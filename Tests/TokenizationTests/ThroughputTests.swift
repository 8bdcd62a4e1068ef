import Foundation
import Testing
import Tokenization

/// Encoding speed on a long text (meaningful in the release build: `swift test -c release`).
@Suite struct ThroughputTests {
    /// Encodes the golden strings joined into one text, repeated up to `size` bytes.
    static func measure(_ label: String, _ tokenizer: BPETokenizer, _ rows: [Golden.Row], size: Int) -> Double {
        var text = ""
        var index = 0
        while text.utf8.count < size, index < 1_000_000 {
            text += rows[index % rows.count].text + "\n"
            index += 1
        }
        let clock = ContinuousClock()
        var count = 0
        let elapsed = clock.measure { count = tokenizer.encode(text).count }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let megabytesPerSecond = Double(text.utf8.count) / 1e6 / seconds
        print("Tokenization throughput \(label): \(String(format: "%.2f", megabytesPerSecond)) MB/s "
            + "(\(text.utf8.count) bytes, \(count) tokens, \(String(format: "%.3f", seconds)) s)")
        return megabytesPerSecond
    }

    @Test func encodeThroughput() throws {
        let smol = try Golden.smolLM2.get()
        let llama = try Golden.llama3.get()
        // A floor far below the expected speed, to catch accidental quadratic behaviour only.
        #expect(Self.measure("SmolLM2, 4 MB", smol.fromArrays, smol.strings, size: 4_000_000) > 0.5)
        #expect(Self.measure("Llama 3, 4 MB", llama.fromArrays, llama.strings, size: 4_000_000) > 0.5)
        // The golden strings once each (~0.3 MB of mostly distinct, multilingual words: little cache reuse).
        let once = smol.strings.reduce(0) { $0 + $1.text.utf8.count + 1 }
        #expect(Self.measure("SmolLM2, distinct", smol.fromArrays, smol.strings, size: once) > 0.5)
    }

    /// SentencePiece merging runs over whole fragments (no word split, no cache): still n log n. ~2.5 MB/s in
    /// release, ~0.3 in debug; the floor only catches quadratic behaviour (hours on 4 MB).
    @Test func sentencePieceThroughput() throws {
        let gemma = try Golden.gemma3.get()
        let rows = try Golden.decode(Golden.Strings.self, "gemma-3/golden.json").strings
        #expect(Self.measure("Gemma 3 (SentencePiece), 4 MB", gemma, rows, size: 4_000_000) > 0.1)
        let json = try BPETokenizer(tokenizerJSON: Golden.data("gemma-3/tokenizer.json"))
        #expect(Self.measure("Gemma 3 (tokenizer.json), 4 MB", json, rows, size: 4_000_000) > 0.1)
    }
}
