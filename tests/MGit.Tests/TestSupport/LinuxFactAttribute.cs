namespace MGit.Tests.TestSupport;

/// <summary>A test of something only Linux has (a /proc file, a kernel behaviour); skipped elsewhere, saying why.</summary>
public sealed class LinuxFactAttribute : FactAttribute
{
    public LinuxFactAttribute(string needs)
    {
        if (!OperatingSystem.IsLinux())
        {
            Skip = $"needs Linux: {needs}";
        }
    }
}

/// <summary>A theory of something only Linux has; skipped elsewhere, saying why.</summary>
public sealed class LinuxTheoryAttribute : TheoryAttribute
{
    public LinuxTheoryAttribute(string needs)
    {
        if (!OperatingSystem.IsLinux())
        {
            Skip = $"needs Linux: {needs}";
        }
    }
}
