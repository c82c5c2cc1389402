namespace HieraRS.Tensors;

internal static class SpecialFunctions
{
    /// <summary>
    /// erf(x) to about 1e-15 relative: the Maclaurin series for |x| &lt; 2.5 and the continued
    /// fraction of erfc beyond (.NET has no Math.Erf).
    /// </summary>
    public static double Erf(double x)
    {
        double ax = Math.Abs(x);
        if (ax < 2.5)
        {
            double sum = x, term = x, x2 = x * x;
            for (int n = 1; n < 60; n++)
            {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17 * Math.Abs(sum)) break;
            }
            return 2.0 / Math.Sqrt(Math.PI) * sum;
        }
        if (ax > 6) return Math.Sign(x);
        // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))), evaluated backwards
        double f = ax;
        for (int n = 60; n >= 1; n--) f = ax + n / 2.0 / f;
        double erfc = Math.Exp(-ax * ax) / Math.Sqrt(Math.PI) / f;
        return Math.Sign(x) * (1 - erfc);
    }
}
