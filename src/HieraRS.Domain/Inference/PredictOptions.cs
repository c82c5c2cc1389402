namespace HieraRS.Domain.Inference;

/// <summary>Options of a whole-scene prediction.</summary>
public sealed record PredictOptions
{
    public int Window { get; init; } = 512;
    /// <summary>Pixels shared by neighbouring windows.</summary>
    public int Overlap { get; init; } = 64;
    /// <summary>Windows per forward pass.</summary>
    public int Batch { get; init; } = 1;
    public BlendMode Blend { get; init; } = BlendMode.Cosine;
    /// <summary>Test-time augmentation: none, flip (horizontal), d4 (the 8 flips and rotations).</summary>
    public string Tta { get; init; } = "none";
    /// <summary>0-based levels to write; null = all.</summary>
    public int[]? Levels { get; init; }
    /// <summary>Add a band per written level with the probability of the chosen path (JSPS) or class (flat): 0-254 for 0-1, 255 nodata.</summary>
    public bool Confidence { get; init; }
    /// <summary>
    /// A second GeoTIFF with a band per class of every written level: the softmax of the level's blended
    /// logits, 0-254 for 0-1 (band scale 1/254), 255 nodata. Flat models have logits for the finest level only.
    /// </summary>
    public string? Probabilities { get; init; }
    public bool Cog { get; init; }
    /// <summary>Bytes of logit accumulators to hold at once; the scene is processed in column strips that fit (memory does not grow with the scene).</summary>
    public long AccumulatorBudget { get; init; } = 192L << 20;
    /// <summary>Continue an interrupted prediction of the same scene, checkpoint and options where it stopped.</summary>
    public bool Resume { get; init; } = true;
    /// <summary>Files the run reads besides the scene (the checkpoint, the other scenes of a batch): no output may be one of them.</summary>
    public IReadOnlyList<string> OtherInputs { get; init; } = [];
    /// <summary>This worker's share when several predict one scene (or deal out a list of scenes); null: all of it.</summary>
    public ShardSpec? Shard { get; init; }
    /// <summary>Only assemble the output from the parts the workers wrote (<c>--merge</c>).</summary>
    public bool Merge { get; init; }
    /// <summary>Stop after this many rows of windows, leaving the partial output to resume (an interruption on purpose, for tests).</summary>
    public int? StopAfterRows { get; init; }

    /// <summary>Refuses sizes that cannot work (named as the command's options); returns these options.</summary>
    public PredictOptions Validate()
    {
        if (Window < 32 || Window % 32 != 0) throw new ArgumentException($"window {Window}: use a multiple of 32 (the backbone's output stride)");
        if (Overlap < 0 || Overlap >= Window) throw new ArgumentException($"--overlap {Overlap}: at least 0 and less than the window ({Window})");
        if (Batch < 1) throw new ArgumentException($"--batch {Batch}: at least 1 window per forward pass");
        if (AccumulatorBudget < 1) throw new ArgumentException($"--accumulator-mb {AccumulatorBudget >> 20}: a positive size");
        if (Merge && Shard is not null) throw new ArgumentException($"--merge with --shard {Shard}: the merge assembles what every worker wrote; run it once, without --shard");
        if (!Resume && (Merge || Shard is not null))
            throw new ArgumentException("--restart with --shard or --merge would discard the other workers' parts: delete the partial folder once before starting the workers instead");
        Inference.Tta.Views(Tta);
        return this;
    }
}

/// <summary>What a prediction did. <c>MissingParts</c>: of a worker's run that finished its share, the parts other workers have still to write.</summary>
public sealed record PredictResult(string Output, int Width, int Height, int Windows, int SkippedWindows, double Seconds, int ResumedRows = 0, bool Complete = true, int MissingParts = 0);
