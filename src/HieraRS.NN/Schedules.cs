namespace HieraRS.NN;

/// <summary>Learning rate at an iteration, given the base lr (iteration-based, as MMSegmentation's schedulers).</summary>
public interface ILrSchedule
{
    double Lr(double baseLr, long iter);
}

/// <summary>Constant lr.</summary>
public sealed class ConstantLr : ILrSchedule
{
    public double Lr(double baseLr, long iter) => baseLr;
}

/// <summary>(base - etaMin) * (1 - t/total)^power + etaMin, t counted from <paramref name="begin"/>.</summary>
public sealed class PolyLr(long totalIters, double power = 1.0, double etaMin = 0, long begin = 0) : ILrSchedule
{
    public double Lr(double baseLr, long iter)
    {
        long span = Math.Max(1, totalIters - begin);
        double t = Math.Clamp(iter - begin, 0, span);
        return (baseLr - etaMin) * Math.Pow(1 - t / span, power) + etaMin;
    }
}

/// <summary>etaMin + (base - etaMin) * (1 + cos(pi t / total)) / 2.</summary>
public sealed class CosineLr(long totalIters, double etaMin = 0, long begin = 0) : ILrSchedule
{
    public double Lr(double baseLr, long iter)
    {
        long span = Math.Max(1, totalIters - begin);
        double t = Math.Clamp(iter - begin, 0, span);
        return etaMin + (baseLr - etaMin) * (1 + Math.Cos(Math.PI * t / span)) / 2;
    }
}

/// <summary>base * gamma^floor(t / stepSize).</summary>
public sealed class StepLr(long stepSize, double gamma = 0.1) : ILrSchedule
{
    public double Lr(double baseLr, long iter) => baseLr * Math.Pow(gamma, iter / stepSize);
}

/// <summary>
/// Linear warm-up of the factor from startFactor to 1 over the first warmupIters iterations (mmengine
/// LinearLR), then the main schedule.
/// </summary>
public sealed class WarmupLr(ILrSchedule main, long warmupIters, double startFactor = 1e-6) : ILrSchedule
{
    public double Lr(double baseLr, long iter)
    {
        double lr = main.Lr(baseLr, iter);
        if (iter >= warmupIters) return lr;
        return lr * (startFactor + (1 - startFactor) * iter / warmupIters);
    }
}
