import Foundation

extension ServeBenchmark {
    /// Runs multi-turn conversations: each conversation sends its turns one after another, every turn's prompt the
    /// conversation so far (earlier user messages and the server's replies), and conversations run side by side,
    /// at most `maxConcurrency` at once. `countTokens` measures each turn's whole prompt; `progress` gets the number
    /// of finished turns. Outcomes are in conversation order, then turn order.
    public func runConversations(_ conversations: [[BenchmarkPrompt]], countTokens: @escaping @Sendable (String) -> Int,
                                 progress: @escaping @Sendable (Int) -> Void = { _ in }) async throws -> ServeBenchmarkRun {
        try options.validate()
        guard conversations.first?.first != nil else { throw BenchmarkError("there are no conversations to run") }
        let model = try await modelName()
        // A probe of its own, not a conversation's first turn: it would leave that turn's prompt in a prefix cache.
        try await probe(BenchmarkPrompt(text: "Hello", promptLength: 1, outputLength: 1), model: model)
        let gate = Gate(limit: options.maxConcurrency ?? Int.max)
        let finished = Finished()
        let origin = ContinuousClock.now
        let outcomes = try await withThrowingTaskGroup(of: (Int, [RequestOutcome]).self) { group in
            for (index, messages) in conversations.enumerated() {
                group.addTask {
                    await gate.enter()
                    var outcomes: [RequestOutcome] = []
                    var history: [String] = []
                    for message in messages {
                        var turn = message
                        turn.history = history
                        turn.promptLength = countTokens(history.joined() + message.text)
                        let outcome = (try? await send(turn, model: model, clock: origin)) ?? RequestOutcome(promptLength: turn.promptLength)
                        outcomes.append(outcome)
                        progress(await finished.increment())
                        guard outcome.success else { break }  // the rest of a broken conversation is not sent
                        history += [message.text, outcome.generatedText]
                    }
                    await gate.leave()
                    return (index, outcomes)
                }
            }
            var byConversation = [[RequestOutcome]](repeating: [], count: conversations.count)
            for try await (index, outcomes) in group { byConversation[index] = outcomes }
            return byConversation
        }
        return ServeBenchmarkRun(outcomes: outcomes.flatMap { $0 }, duration: origin.duration(to: .now) / .seconds(1),
                                 modelName: model, turns: outcomes.flatMap { $0.indices.map { $0 + 1 } })
    }
}

/// A counter shared by a run's tasks.
private actor Finished {
    private var count = 0
    func increment() -> Int {
        count += 1
        return count
    }
}
