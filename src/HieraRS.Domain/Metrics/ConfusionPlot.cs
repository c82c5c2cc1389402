using System.Globalization;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Visual;

namespace HieraRS.Domain.Metrics;

/// <summary>
/// A confusion matrix as a picture: rows are truth, columns prediction, each cell shaded by its share
/// of the row (recall along the diagonal) and labelled with that share in percent; row labels carry
/// the class names, column heads the class ids; rows with no truth pixels stay blank.
/// </summary>
public static class ConfusionPlot
{
    public static Canvas Render(ConfusionMatrix cm, HierarchyLevel level, string title)
    {
        int k = cm.Classes;
        int cell = k <= 10 ? 34 : k <= 20 ? 26 : 18;
        int labelW = level.Classes.Max(c => Font5x7.TextWidth($"{c.Id} {c.Name}")) + 8;
        const int headH = 14;
        const string key = "rows: truth, columns: prediction, % of row";
        var body = new Canvas(Math.Max(labelW + k * cell + 8, labelW + Font5x7.TextWidth(key) + 8), headH + k * cell + 24, Canvas.White);
        for (int p = 0; p < k; p++)
        {
            string id = p.ToString(CultureInfo.InvariantCulture);
            body.Text(labelW + p * cell + (cell - Font5x7.TextWidth(id)) / 2, 2, id, Canvas.Black);
        }
        for (int t = 0; t < k; t++)
        {
            var c = level.Classes[t];
            body.Text(2, headH + t * cell + (cell - 7) / 2, $"{c.Id} {c.Name}", Canvas.Black);
            long row = 0;
            for (int p = 0; p < k; p++) row += cm[t, p];
            for (int p = 0; p < k; p++)
            {
                int x = labelW + p * cell, y = headH + t * cell;
                if (row == 0) { body.Outline(x, y, cell, cell, (230, 230, 230)); continue; }
                double share = (double)cm[t, p] / row;
                // white to a deep blue on the diagonal's scale; off-diagonal errors in red
                var colour = p == t ? Shade(share, (8, 69, 148)) : Shade(share, (165, 15, 21));
                body.FillRect(x, y, cell, cell, colour);
                body.Outline(x, y, cell, cell, (230, 230, 230));
                if (cm[t, p] > 0 && cell >= 26)
                {
                    string pct = (share * 100).ToString(share >= 0.995 ? "0" : share >= 0.095 ? "0" : "0.0", CultureInfo.InvariantCulture);
                    body.Text(x + (cell - Font5x7.TextWidth(pct)) / 2, y + (cell - 7) / 2, pct, Canvas.Contrasting(colour));
                }
            }
        }
        body.Text(labelW, headH + k * cell + 8, key, Canvas.Grey);
        return QuickLook.Framed(body, title, []);
    }

    static (byte, byte, byte) Shade(double share, (byte R, byte G, byte B) full)
    {
        double s = Math.Sqrt(Math.Clamp(share, 0, 1)); // small confusions stay visible
        byte Mix(byte f) => (byte)Math.Round(255 + (f - 255) * s);
        return (Mix(full.R), Mix(full.G), Mix(full.B));
    }
}
