import ArgumentParser
import ChatTemplates
import Engine
import Foundation
import Model

/// `brigade chat`: an interactive conversation that streams each answer.
struct Chat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Chat with the model interactively.",
        discussion: "Type a message and press Enter; the answer streams back. /reset starts a new conversation, /quit (or end of input) leaves."
    )

    @Option(help: "A system message that starts every conversation.") var system: String?
    @OptionGroup(title: "Model") var model: ModelOptions
    @OptionGroup(title: "Sampling") var sampling: SamplingOptions
    @OptionGroup(title: "Engine") var engine: EngineOptionGroup

    func run() async throws {
        guard let session = try Session(model: model, engine: engine) else { return }  // an MPI worker rank
        defer { session.close() }
        let interactive = isatty(STDIN_FILENO) != 0
        let start: [ChatMessage] = system.map { [ChatMessage(role: "system", content: .string($0))] } ?? []
        var messages = start
        if interactive { print("Chatting with \((model.resolvedPath as NSString).lastPathComponent). /reset starts over, /quit leaves.") }
        var turn = 0
        while true {
            if interactive { FileHandle.standardOutput.write(Data("\n> ".utf8)) }
            guard let line = readLine() else { break }
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            if text == "/quit" || text == "/exit" { break }
            if text == "/reset" {
                messages = start
                print("(conversation reset)")
                continue
            }
            messages.append(ChatMessage(role: "user", content: .string(text)))
            let request = RequestLine(input: .messages(messages), sampling: sampling.parameters, maxTokens: sampling.maxTokens,
                                      minTokens: sampling.minTokens, stop: sampling.stop, stopTokenIDs: [], ignoreEOS: sampling.ignoreEos)
            turn += 1
            let result: GenerationResult
            do {
                result = try await session.engine.generate(try session.request(request, id: "chat-\(turn)")) { output in
                    FileHandle.standardOutput.write(Data(output.textDelta.utf8))
                }
            } catch {
                messages.removeLast()
                FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                continue
            }
            print("")
            messages.append(ChatMessage(role: "assistant", content: .string(result.text)))
            if result.finishReason == .length {
                FileHandle.standardError.write(Data("(answer cut at --max-tokens \(sampling.maxTokens) or the context length)\n".utf8))
            }
        }
    }
}
