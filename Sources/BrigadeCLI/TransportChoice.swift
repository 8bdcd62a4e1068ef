import ArgumentParser
import Engine
import Foundation
import Transport

/// How this process's pipeline ranks are connected.
enum TransportChoice: String, ExpressibleByArgument, CaseIterable {
    /// MPI when the process was started by `mpirun`, else threads of this process.
    case auto
    /// Every rank a thread of this process.
    case inprocess
    /// One rank per MPI process (`mpirun -n <pp> brigade … --transport mpi`).
    case mpi
}

extension EngineOptionGroup {
    /// `--transport` resolved: whether the ranks are MPI processes.
    var usesMPI: Bool {
        switch transport {
        case .mpi: return true
        case .inprocess: return false
        case .auto:
            #if MPI
            return MPIRuntime.launchedByMPI
            #else
            return false
            #endif
        }
    }

    /// Whether a server supervises its pipeline: always, unless this process is a rank of an `mpirun` job (whose
    /// death the job's other ranks do not survive).
    var isSupervised: Bool {
        guard usesMPI else { return true }
        #if MPI
        return !MPIRuntime.launchedByMPI
        #else
        return true
        #endif
    }

    /// The engine for rank 0. On the other ranks of an MPI launch this runs the rank's share of the pipeline until
    /// rank 0 stops it and returns nil (those ranks print nothing but errors).
    func startEngine(_ model: any PipelineModel, options: EngineOptions) throws -> InferenceEngine? {
        var options = options
        capServedLengthToTheCache(&options, model: model)
        if isAutoPartition && options.pipelineStages > 1 && options.partition == nil {
            options.partition = try agreedAutoPartition(model, stages: options.pipelineStages)
        }
        guard usesMPI else { return try requireRoomForOneSequence(InferenceEngine.inProcess(model: model, options: options)) }
        #if MPI
        let world = try MPIRuntime.world()
        guard world.size == options.pipelineStages else {
            throw CLIError("mpirun started \(world.size) processes but --pp is \(options.pipelineStages); "
                           + "run mpirun -n \(options.pipelineStages) (one process per stage)")
        }
        guard world.rank > 0 else {
            return try requireRoomForOneSequence(InferenceEngine(model: model, options: options, communicators: [world]))
        }
        do {
            _ = try PipelineWorker.run(model: model, options: options, communicator: world)
            saveTrace(options.trace, rank: world.rank)
        } catch is PartitionError {
            // Every rank checks the same options and rank 0 reports this one; give it time to print and exit
            // (mpirun then stops this process) so the launch fails with one message.
            Thread.sleep(forTimeInterval: 10)
            Foundation.exit(1)
        } catch {
            FileHandle.standardError.write(Data("error: rank \(world.rank): \(error)\n".utf8))
            MPIRuntime.abort(code: 1)
        }
        return nil
        #else
        throw CLIError("this brigade was built without MPI; build it with `swift build -c release --traits MPI` "
                       + "(needs libopenmpi-dev) or drop --transport mpi")
        #endif
    }

    /// When neither the KV cache size nor `--max-model-len` was chosen and the default cache cannot hold one sequence
    /// of the model's full context (real models have contexts of 32k+ tokens), serves sequences as long as the cache
    /// holds, and says so: a model that fits in memory should start without flags. An explicit choice is honoured
    /// (and checked by `requireRoomForOneSequence`).
    func capServedLengthToTheCache(_ options: inout EngineOptions, model: any PipelineModel) {
        guard maxModelLen == nil, kvCacheMb == nil, kvCacheFraction == nil else { return }
        let capacity = KVCacheLayout(model: model, options: options).capacityTokens
        guard capacity < model.contextLength, capacity >= 2 else { return }
        options.maxModelLength = capacity
        if (try? isMPIWorker) == true { return }
        FileHandle.standardError.write(Data(("note: serving sequences of up to \(capacity) tokens, what the \(options.kvCacheMiB) MiB KV cache "
            + "holds (the model's context is \(model.contextLength)); set --kv-cache-mb or --max-model-len to choose\n").utf8))
    }

    /// Stops at start-up, with the fix, when the KV cache cannot hold one sequence of the full served context (such
    /// a request would be refused whatever else is running).
    func requireRoomForOneSequence(_ engine: InferenceEngine) throws -> InferenceEngine {
        let context = engine.contextLength, capacity = engine.kvCapacityTokens
        guard capacity < context else { return engine }
        engine.shutdown(drain: false)
        let neededMiB = engine.kvLayout.budgetMiB(holding: context + blockSize)
        throw CLIError("the KV cache holds \(capacity) tokens (\(kvCacheMiB) MiB) but one sequence may reach the model's context of "
                       + "\(context) tokens: raise --kv-cache-mb to \(neededMiB) or more, or serve shorter sequences with "
                       + "--max-model-len \(max(2, capacity / blockSize * blockSize))")
    }

    /// Whether this process is a rank other than 0 of an MPI launch (it computes; rank 0 talks to users).
    var isMPIWorker: Bool {
        get throws {
            #if MPI
            // Not under mpirun, this process is rank 0 (or a supervisor): never start MPI just to ask.
            return usesMPI && MPIRuntime.launchedByMPI ? try MPIRuntime.world().rank > 0 : false
            #else
            return false
            #endif
        }
    }

    /// Runs `load` (the model) on this rank. On an MPI launch every rank loads its own copy, and an error that rank 0
    /// hits too is reported by rank 0 alone: rank 0 tells the others whether it loaded, the others stay quiet if it
    /// did not (mpirun ends them when rank 0 exits), and report their own error (and abort the job) if it did.
    func loadOnEveryRank<T>(_ load: () throws -> T) throws -> T {
        guard usesMPI else { return try load() }
        #if MPI
        let world = try MPIRuntime.world()
        let result = Result { try load() }
        let loaded: UInt8 = (try? result.get()) != nil ? 1 : 0
        if world.rank == 0 {
            for peer in 1..<world.size { try world.send([loaded], to: peer, tag: .termination).wait() }
            return try result.get()
        }
        let rankZeroLoaded = try world.receive(from: 0, tag: .termination, timeout: 600).first == 1
        switch result {
        case .success(let value) where rankZeroLoaded:
            return value
        case .failure(let error) where rankZeroLoaded:
            FileHandle.standardError.write(Data("error: rank \(world.rank): \(error)\n".utf8))
            MPIRuntime.abort(code: 1)
        default:
            Thread.sleep(forTimeInterval: 10)  // rank 0 reports; mpirun ends this process when rank 0 exits
            Foundation.exit(1)
        }
        #else
        return try load()
        #endif
    }

    /// Writes `trace` (if tracing) to `--trace`, or for rank N > 0 to FILE-rankN.json; `variant` names one of several
    /// engines of one command (FILE-variant.json).
    func saveTrace(_ trace: PipelineTrace?, rank: Int = 0, variant: String? = nil) {
        guard let trace, let base = self.trace else { return }
        let url = URL(fileURLWithPath: base)
        let stem = url.deletingPathExtension().path, suffix = url.pathExtension.isEmpty ? "json" : url.pathExtension
        let path = stem + (variant.map { "-\($0)" } ?? "") + (rank > 0 ? "-rank\(rank)" : "") + "." + suffix
        do {
            try trace.chromeTraceJSON().write(to: URL(fileURLWithPath: path))
            let dropped = trace.droppedCount > 0 ? " (\(trace.droppedCount) more dropped: the trace is full)" : ""
            FileHandle.standardError.write(Data("trace: \(trace.spanCount) spans written to \(path)\(dropped); draw it with `brigade trace render \(path)`\n".utf8))
        } catch {
            FileHandle.standardError.write(Data("error: cannot write the trace to \(path): \(error.localizedDescription)\n".utf8))
        }
    }

    /// Ends MPI, once every engine and worker of this process has stopped.
    func finishTransport() {
        #if MPI
        if usesMPI { MPIRuntime.finalize() }
        #endif
    }
}
