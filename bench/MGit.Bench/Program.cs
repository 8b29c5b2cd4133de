namespace MGit.Bench;

internal static class Program
{
    private const string Usage = """
        MGit.Bench: synthetic safetensors models and an mgit benchmark against cp and zstd.

        Usage:
          MGit.Bench generate --out FILE --size-mb N [--dtype F32|BF16] [--seed S]
          MGit.Bench generate --out FILE --derive-from BASE --change-fraction F [--seed S]
          MGit.Bench family --mgit PATH/mgit.dll (or a native PATH/mgit) --work DIR (--assembly MODEL.dll | --onnx MODEL.onnx | --safetensors F32.safetensors)
                         [--finetune-scale 0.01] [--repeat R] [--no-xz] [--no-git] [--results FILE.md]
          MGit.Bench onnx --out DIR (--size-mb N [--seed S] | --assembly MODEL.dll)
          MGit.Bench run --mgit PATH/mgit.dll (or a native PATH/mgit) --work DIR [--size-mb 2048] [--dtype F32|BF16] [--seed S]
                         [--family-size-mb 512] [--change-fraction 0.3] [--no-family]
                         [--repeat R] [--quiet-wait SECONDS] [--quiet-below CORES] [--clean]
                         [--results FILE.md]
          MGit.Bench remote --mgit PATH/mgit.dll (or a native PATH/mgit) --work DIR [--size-mb 1024] [--versions 4] [--change-fraction 0.3]
                         [--s3rver .ci/node/node_modules/s3rver/bin/s3rver.js] [--results FILE.md]
          MGit.Bench placement --mgit PATH/mgit.dll (or a native PATH/mgit) --work DIR [--models 500] [--layers 12] [--seed S] [--measure-last K] [--results FILE.md]
          MGit.Bench faults --mgit PATH/mgit.dll (or a native PATH/mgit) --work DIR [--runs 10] [--seed S]
                         [--full-disk tmpfs,ext4|none] [--results FILE.md]
          MGit.Bench lineage --mgit PATH/mgit.dll (or a native PATH/mgit) --work DIR [--orders 3] [--seed S]
                         [--resnet PATH/ResNet18.onnx|none] [--families chain,controls,...] [--model-cards] [--keep] [--results FILE.md]
          MGit.Bench serve --mgit PATH/mgit.dll (or a native PATH/mgit) --work DIR [--models 2000] [--seed S] [--chromium /usr/bin/chromium]
                         [--screenshot FILE.png] [--results FILE.md]
          MGit.Bench kurtosis [--seeds 3] [--epochs 200] [--seed S] [--results FILE.md]
          MGit.Bench cascade [--out bench/results/cascade-slurm.md] [--width 4] [--repeat 1] [--work DIR] [--keep]
                         [--mgit PATH/mgit.dll] [--trainer PATH/PenguinTrainer.dll] [--source DIR]
                         [--slurm-conf FILE] [--slurm-mem 1G|none] [--quiet-wait 60]
          MGit.Bench scale [--sizes 1000,10000,100000] [--placements 20] [--work DIR] [--out FILE.md]
                         [--mgit src/MGit.Cli/bin/Release/net10.0/mgit] [--seed S] [--graph-depth 3] [--batch 1000] [--fresh]

        generate  writes a transformer-like model with N(0, 0.02) weights, streaming; with --derive-from
                  it writes a "fine-tune": same header, a random F fraction of the tensor bytes perturbed
                  by a delta of 1% of the weight scale, every other tensor byte-identical.
        run       times cp, zstd -1/-3, mgit add (fsync on and off), mgit checkout, zstd -d on one model,
                  then a base + fine-tune family (mgit dedup against zstd --patch-from), and prints a
                  Markdown report (written to --results too). MB = 10^6 bytes throughout.
                  Models are generated into --work once and reused; --clean deletes them at the end.
                  Before each run it waits up to --quiet-wait s (120) for the machine to use under
                  --quiet-below cores (0.25), and redoes runs that other work disturbed (0 disables).
        onnx      writes an ONNX model folder: model.onnx with N MB of F32 weights in model.onnx.data
                  (external data, as models over 2 GB need), or the model a .NET assembly embeds.
        family    builds a family from a real model's weights (an ONNX model, or one embedded in a
                  .NET assembly as NuGet packages ship them): head-only and full fine-tunes, a next
                  version, BF16 casts, a pruned copy; stores it with mgit and, on the same files,
                  zstd -3, xz, zstd --patch-from=PARENT and git gc --aggressive. With --repeat R,
                  mgit and zstd -3 take turns R times and their medians are reported.
        remote    a base of --size-mb and a chain of fine-tuned versions, pushed to and pulled from a
                  file:// remote and an s3rver on loopback: push/pull MB/s, bytes sent against the
                  family's logical size, and what a second push sends (nothing).
        serve     stores a seeded family of --models small models (roots, fine-tunes of fine-tunes, prunes,
                  casts, merges, chains of versions), then times `mgit serve` from start to URL, the API's
                  documents, and in headless Chromium the graph page: open to laid out, search, zoom,
                  fit, frames per second while panning; and `mgit graph --format html`.
        placement adds a seeded synthetic family (fine-tunes, head swaps, prunes, BF16 casts, unrelated
                  roots) model by model with `mgit add --auto` and reports placement time as the graph
                  grows, and how many models landed under their true parent.
        faults    kills add, gc, push, pull and checkout (one model, and three at once) with SIGKILL at
                  seeded random moments, --runs times each, from fresh copies of a small family's
                  repository and file:// remote; after each kill and after rerunning the command it
                  checks fsck (and a fresh clone of the remote), what ls --json lists (before or
                  after, never half), every version byte for byte and what a checkout target holds;
                  counts temporary files left behind. Then, as root, fills a small tmpfs and ext4
                  (40 MB) under a repository: add must fail in one line, the repository stay intact
                  and readable, rm + gc free space, and add succeed once there is room. Exit 0 only
                  when no run was inconsistent and no full-disk check failed. The default
                  10 runs take about 8 minutes on 2 cores.
        lineage   trains model families whose truth is known with the quickstart's TinyMlp (chains of
                  versions, fine-tunes of fine-tunes, head swaps, prune + retrain, BF16 casts, a merge, long
                  continued training, negative controls) and builds one on ResNet-18's published weights;
                  gives the files neutral names and scores how mgit recovers the lineage: infer (names
                  re-drawn --orders times, mtimes in creation order and shuffled) and add --auto (random
                  orders and creation order): edges right, direction right, false relations. With
                  --model-cards also as model folders whose README.md names the true parents (base_model).
                  Logs per run under --work/lineage-runs. About 10 minutes on 2 cores.
        kurtosis  trains TinyMlp runs on the penguin data (Adam and SGD, several learning rates and seeds,
                  from random init and as fine-tunes of trained bases) with checkpoints along each run,
                  and reports how often each weight statistic (excess kurtosis, std, mean |w|, near-zero
                  fraction, max |w|/std) goes up from parent to child, and the Pearson correlation of
                  corresponding weights for related against unrelated pairs.
        cascade   builds the PenguinTrainer sample's family wider than cascade-demo.sh (a base, --width
                  fine-tunes, a pruned child of the first; recipes and tests), adds base v2, copies the
                  repository once per executor and times `mgit cascade` with --jobs 1, --jobs 2,
                  --executor slurm and --executor slurm --mem 1G on a single-node Slurm cluster it starts
                  with tests/slurm/cluster.sh (root; or --slurm-conf of a running one); checks that every
                  executor made the same graph and byte-identical versions. Builds the mgit CLI and the
                  trainer unless given. About 4 minutes on 2 cores with --repeat 1, more on a busy machine
                  (each run first waits up to --quiet-wait s for the machine to go quiet).
        scale     issue 26, hub scale: for each N of --sizes builds a seeded repository of N tiny models
                  (chains of versions, fine-tunes of fine-tunes, wide stars with merges) in this process,
                  pushes it to a file:// remote and clones it (setup, kept under --work and reused by
                  later runs at the same N and seed; --fresh rebuilds), then times the CLI with its peak
                  memory: --placements x add --auto, ls --json, log and graph of one model, fsck, gc,
                  and the push and pull of one new model (bytes written to the remote, lineage apart),
                  against the issue's goals. The build takes about 30-70 models/s on 2 cores (in batches of
                  --batch 1000): 10,000 in 6 minutes, 100,000 in about an hour.
        """;

    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }

        try
        {
            var options = Arguments.Parse(args.AsSpan(1));
            switch (args[0])
            {
                case "generate":
                    return GenerateCommand.Run(options);
                case "run":
                    return BenchmarkCommand.Run(options, args);
                case "family":
                    return FamilyCommand.Run(options, args);
                case "remote":
                    return RemoteCommand.Run(options, args);
                case "onnx":
                    return OnnxCommand.Run(options);
                case "serve":
                    return ServeCommand.Run(options, args);
                case "placement":
                    return PlacementCommand.Run(options, args);
                case "faults":
                    return FaultCommand.Run(options, args);
                case "lineage":
                    return LineageCommand.Run(options, args);
                case "kurtosis":
                    return KurtosisCommand.Run(options, args);
                case "cascade":
                    return CascadeCommand.Run(options, args);
                case "scale":
                    return ScaleCommand.Run(options, args);
                default:
                    Console.Error.WriteLine($"unknown command '{args[0]}'");
                    Console.Error.WriteLine(Usage);
                    return 2;
            }
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        catch (BenchException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }
}

/// <summary>A failure to report in one line, without a stack trace.</summary>
internal sealed class BenchException : Exception
{
    public BenchException()
    {
    }

    public BenchException(string message)
        : base(message)
    {
    }

    public BenchException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>An invalid command line: reported in one line, exit code 2.</summary>
internal sealed class UsageException : Exception
{
    public UsageException()
    {
    }

    public UsageException(string message)
        : base(message)
    {
    }

    public UsageException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
