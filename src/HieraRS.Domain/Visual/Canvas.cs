using HieraRS.Geo;

namespace HieraRS.Domain.Visual;

/// <summary>An RGB picture being drawn: rectangles, text in <see cref="Font5x7"/>, saved as PNG.</summary>
public sealed class Canvas
{
    public int Width { get; }
    public int Height { get; }
    /// <summary>Interleaved R, G, B per pixel, row-major.</summary>
    public byte[] Rgb { get; }

    public Canvas(int width, int height, (byte R, byte G, byte B) background = default)
    {
        Width = width; Height = height;
        Rgb = new byte[width * height * 3];
        FillRect(0, 0, width, height, background);
    }

    public static readonly (byte R, byte G, byte B) White = (255, 255, 255), Black = (0, 0, 0), Grey = (128, 128, 128);

    public void Set(int x, int y, (byte R, byte G, byte B) c)
    {
        if ((uint)x >= (uint)Width || (uint)y >= (uint)Height) return;
        int i = (y * Width + x) * 3;
        (Rgb[i], Rgb[i + 1], Rgb[i + 2]) = c;
    }

    public void FillRect(int x, int y, int w, int h, (byte R, byte G, byte B) c)
    {
        for (int r = Math.Max(0, y); r < Math.Min(Height, y + h); r++)
            for (int q = Math.Max(0, x); q < Math.Min(Width, x + w); q++) Set(q, r, c);
    }

    public void Outline(int x, int y, int w, int h, (byte R, byte G, byte B) c)
    {
        FillRect(x, y, w, 1, c); FillRect(x, y + h - 1, w, 1, c);
        FillRect(x, y, 1, h, c); FillRect(x + w - 1, y, 1, h, c);
    }

    /// <summary>Draws text with its top-left corner at (x, y), each font pixel <paramref name="scale"/> pixels wide.</summary>
    public void Text(int x, int y, string text, (byte R, byte G, byte B) c, int scale = 1)
    {
        for (int k = 0; k < text.Length; k++)
            for (int row = 0; row < Font5x7.Height; row++)
                for (int col = 0; col < Font5x7.Width; col++)
                    if (Font5x7.Ink(text[k], col, row))
                        FillRect(x + (k * Font5x7.Advance + col) * scale, y + row * scale, scale, scale, c);
    }

    /// <summary>Copies another canvas in with its top-left corner at (x, y).</summary>
    public void Draw(Canvas src, int x, int y)
    {
        for (int r = 0; r < src.Height; r++)
            for (int q = 0; q < src.Width; q++)
            {
                int i = (r * src.Width + q) * 3;
                Set(x + q, y + r, (src.Rgb[i], src.Rgb[i + 1], src.Rgb[i + 2]));
            }
    }

    /// <summary>Black or white, whichever reads better on <paramref name="c"/>.</summary>
    public static (byte, byte, byte) Contrasting((byte R, byte G, byte B) c) =>
        0.299 * c.R + 0.587 * c.G + 0.114 * c.B > 140 ? Black : White;

    public void SavePng(string path) => PngWriter.Write(path, Rgb, Width, Height);
}
