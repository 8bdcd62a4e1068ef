import Grammar
import Model

/// The sampling rank's grammars over the model's vocabulary: one index per grammar, built on first use and kept for
/// later requests with the same grammar (an application sends the same schema again and again), so what the index
/// learns about its grammar positions is paid for once.
///
/// Owned by the last rank's loop thread.
final class GrammarBook {
    private let makeVocabulary: () -> TokenVocabulary?
    /// Built at the first constrained request (nil: the model has none).
    private lazy var vocabulary: TokenVocabulary? = makeVocabulary()
    private var indexes = LeastRecentlyUsed<String, GrammarIndex>(limit: 32)

    init(makeVocabulary: @escaping () -> TokenVocabulary?) {
        self.makeVocabulary = makeVocabulary
    }

    func index(for source: String) throws -> GrammarIndex {
        if let index = indexes.value(for: source) { return index }
        guard let vocabulary else {
            throw PipelineFailure(message: "a request has a grammar but the model has no token vocabulary")
        }
        let index = GrammarIndex(grammar: try GrammarCache.shared.grammar(source), vocabulary: vocabulary)
        indexes.insert(index, for: source)
        return index
    }
}

/// Where a request's output stands in its grammar. It follows the request's output tokens, whatever produced them
/// (sampled here, resumed after a restart, or recomputed after preemption), so it never needs rebuilding.
struct GrammarCursor {
    let index: GrammarIndex
    var state: MatchState
    /// Output tokens the state has consumed.
    var consumed = 0
    /// The output left the grammar (only possible with resumed tokens from elsewhere): sampling is unconstrained.
    var offGrammar = false

    init(index: GrammarIndex) {
        self.index = index
        state = index.initialState()
    }

    /// Consumes the output tokens not seen yet.
    mutating func catchUp(with output: ArraySlice<Int32>) {
        while consumed < output.count && !offGrammar {
            if let next = index.advance(state, token: output[output.startIndex + consumed]) {
                state = next
                consumed += 1
            } else {
                offGrammar = true
            }
        }
    }
}

extension PipelineLoop {
    /// Samples `state`'s next token from its logits row: under its grammar when it has one.
    ///
    /// Greedy requests first take the unconstrained argmax and keep it when the grammar allows it — then it is the
    /// argmax over the allowed tokens too, so the result is exactly the masked one at the cost of matching one token.
    /// Otherwise the grammar's mask restricts the draw; end-of-sequence tokens are allowed only where the grammar may
    /// end (or when it allows nothing else, so that a request never gets stuck).
    func sampleToken(for state: RequestState, logits: UnsafeBufferPointer<Float>) throws -> SampledToken {
        let parameters = state.request.sampling
        var generator = state.nextTokenGenerator
        func sample(allowed: TokenMask?) -> SampledToken {
            var draw = generator
            return Sampler.sample(logits: logits, parameters: parameters, seen: state.seen, generatedCounts: state.generatedCounts,
                                  suppressed: state.suppressedTokens, allowed: allowed, generator: &draw)
        }
        guard let source = state.request.grammar else { return sample(allowed: nil) }
        var cursor = try state.grammar ?? GrammarCursor(index: grammars.index(for: source))
        cursor.catchUp(with: state.tokens[state.promptCount...])
        state.grammar = cursor
        if cursor.offGrammar { return sample(allowed: nil) }
        let stops = state.stopTokens.subtracting(state.suppressedTokens)
        if parameters.temperature == 0 {
            let first = sample(allowed: nil)
            let allowed = stops.contains(first.tokenID) ? cursor.state.canEnd
                : cursor.index.advance(cursor.state, token: first.tokenID) != nil
            if allowed { return first }
        }
        var mask = cursor.index.mask(for: cursor.state)
        if cursor.state.canEnd || mask.isEmpty { for token in stops { mask.insert(Int(token)) } }
        return sample(allowed: mask.isEmpty ? nil : mask)
    }
}
