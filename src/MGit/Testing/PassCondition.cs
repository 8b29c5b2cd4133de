using System.Globalization;
using System.Text.Json;
using MGit.Errors;

namespace MGit.Testing;

/// <summary>
/// A test's pass condition over its metrics: comparisons (<c>accuracy &gt;= 0.9</c>, <c>flag == 0</c>,
/// <c>label == "ok"</c>, <c>converged == true</c>) joined with <c>and</c>, <c>or</c>, <c>not</c> and
/// parentheses. <c>exit_code</c> is always available. A metric the test did not report makes its
/// comparison false, and the reason says so.
/// </summary>
public sealed class PassCondition
{
    private readonly Node _root;

    private PassCondition(string text, Node root)
    {
        Text = text;
        _root = root;
    }

    /// <summary>The condition as the user wrote it.</summary>
    public string Text { get; }

    /// <summary>Reads a condition such as <c>accuracy &gt;= 0.9 and not flag == 1</c>.</summary>
    /// <exception cref="MGitException">The text is not a valid condition (the message says why).</exception>
    public static PassCondition Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parser = new Parser(text, Tokenize(text));
        var root = parser.ParseOr();
        parser.ExpectEnd();
        return new PassCondition(text, root);
    }

    /// <summary>Evaluates the condition; the reason names the first comparison that decided a failure.</summary>
    public (bool Passed, string Reason) Evaluate(IReadOnlyDictionary<string, JsonElement> metrics, int? exitCode)
    {
        var values = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var (key, value) in metrics)
        {
            object? converted = value.ValueKind switch
            {
                JsonValueKind.Number => value.GetDouble(),
                JsonValueKind.String => value.GetString(),
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => null,
            };
            if (converted is not null)
            {
                values[key] = converted;
            }
        }

        if (exitCode is int code)
        {
            values["exit_code"] = (double)code;
        }

        string? failure = null;
        bool passed = _root.Evaluate(values, ref failure);
        return (passed, passed ? Text : failure ?? $"not ({Text})");
    }

    private abstract record Node
    {
        public abstract bool Evaluate(IReadOnlyDictionary<string, object> values, ref string? failure);
    }

    private sealed record Or(Node Left, Node Right) : Node
    {
        public override bool Evaluate(IReadOnlyDictionary<string, object> values, ref string? failure) =>
            Left.Evaluate(values, ref failure) || Right.Evaluate(values, ref failure);
    }

    private sealed record And(Node Left, Node Right) : Node
    {
        public override bool Evaluate(IReadOnlyDictionary<string, object> values, ref string? failure) =>
            Left.Evaluate(values, ref failure) && Right.Evaluate(values, ref failure);
    }

    private sealed record Not(Node Inner, string Text) : Node
    {
        public override bool Evaluate(IReadOnlyDictionary<string, object> values, ref string? failure)
        {
            string? ignored = null;
            bool result = !Inner.Evaluate(values, ref ignored);
            if (!result)
            {
                failure ??= $"not ({Text}) is false";
            }

            return result;
        }
    }

    private sealed record Comparison(string Metric, string Operator, object Literal) : Node
    {
        public override bool Evaluate(IReadOnlyDictionary<string, object> values, ref string? failure)
        {
            if (!values.TryGetValue(Metric, out var actual))
            {
                failure ??= $"metric '{Metric}' was not reported";
                return false;
            }

            bool result;
            if (actual is double number && Literal is double limit)
            {
                result = Operator switch
                {
                    ">=" => number >= limit,
                    "<=" => number <= limit,
                    ">" => number > limit,
                    "<" => number < limit,
                    "==" => number == limit,
                    _ => number != limit,
                };
            }
            else if (Operator is "==" or "!=" && actual.GetType() == Literal.GetType())
            {
                result = Equals(actual, Literal) == (Operator == "==");
            }
            else
            {
                failure ??= $"metric '{Metric}' is {Show(actual)}, which cannot be compared with {Operator} {Show(Literal)}";
                return false;
            }

            if (!result)
            {
                failure ??= $"{Metric} = {Show(actual)}, not {Operator} {Show(Literal)}";
            }

            return result;
        }

        private static string Show(object value) => value switch
        {
            double d => d.ToString("G6", CultureInfo.InvariantCulture),
            string s => $"\"{s}\"",
            bool b => b ? "true" : "false",
            _ => value.ToString() ?? "",
        };
    }

    private enum TokenKind
    {
        Name,
        Number,
        String,
        Operator,
        Open,
        Close,
    }

    private sealed record Token(TokenKind Kind, string Text, int Position);

    private static List<Token> Tokenize(string text)
    {
        var tokens = new List<Token>();
        int i = 0;
        while (i < text.Length)
        {
            char c = text[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
            }
            else if (c is '(' or ')')
            {
                tokens.Add(new Token(c == '(' ? TokenKind.Open : TokenKind.Close, c.ToString(), i));
                i++;
            }
            else if (c is '>' or '<' or '=' or '!')
            {
                string op = i + 1 < text.Length && text[i + 1] == '=' ? text.Substring(i, 2) : c.ToString();
                if (op is not (">=" or "<=" or ">" or "<" or "==" or "!="))
                {
                    throw Bad(text, $"unknown operator '{op}' at position {i + 1} (use >=, <=, >, <, == or !=)");
                }

                tokens.Add(new Token(TokenKind.Operator, op, i));
                i += op.Length;
            }
            else if (c is '"' or '\'')
            {
                int close = text.IndexOf(c, i + 1);
                if (close < 0)
                {
                    throw Bad(text, $"unclosed string at position {i + 1}");
                }

                tokens.Add(new Token(TokenKind.String, text[(i + 1)..close], i));
                i = close + 1;
            }
            else if (char.IsAsciiDigit(c) || ((c is '-' or '+' or '.') && i + 1 < text.Length && (char.IsAsciiDigit(text[i + 1]) || text[i + 1] == '.')))
            {
                int start = i++;
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] is '.' || ((text[i] is '-' or '+') && text[i - 1] is 'e' or 'E')))
                {
                    i++;
                }

                tokens.Add(new Token(TokenKind.Number, text[start..i], start));
            }
            else if (char.IsLetter(c) || c == '_')
            {
                int start = i;
                while (i < text.Length && (char.IsLetterOrDigit(text[i]) || text[i] is '_' or '.' or '/' or '-'))
                {
                    i++;
                }

                tokens.Add(new Token(TokenKind.Name, text[start..i], start));
            }
            else
            {
                throw Bad(text, $"unexpected '{c}' at position {i + 1}");
            }
        }

        return tokens;
    }

    private static MGitException Bad(string text, string problem) => new(ErrorKind.InvalidInput, $"--pass '{text}': {problem}");

    private sealed class Parser(string text, List<Token> tokens)
    {
        private int _next;

        private Token? Peek => _next < tokens.Count ? tokens[_next] : null;

        private bool TakeKeyword(string keyword)
        {
            if (Peek is { Kind: TokenKind.Name } token && token.Text == keyword)
            {
                _next++;
                return true;
            }

            return false;
        }

        public Node ParseOr()
        {
            var left = ParseAnd();
            while (TakeKeyword("or"))
            {
                left = new Or(left, ParseAnd());
            }

            return left;
        }

        private Node ParseAnd()
        {
            var left = ParseUnary();
            while (TakeKeyword("and"))
            {
                left = new And(left, ParseUnary());
            }

            return left;
        }

        private Node ParseUnary()
        {
            int start = Peek?.Position ?? text.Length;
            if (TakeKeyword("not"))
            {
                var inner = ParseUnary();
                int end = Peek?.Position ?? text.Length;
                return new Not(inner, text[start..end].Trim());
            }

            if (Peek is { Kind: TokenKind.Open })
            {
                _next++;
                var inner = ParseOr();
                if (Peek is not { Kind: TokenKind.Close })
                {
                    throw Bad(text, "missing ')'");
                }

                _next++;
                return inner;
            }

            return ParseComparison();
        }

        private Comparison ParseComparison()
        {
            var metric = Take("a metric name");
            if (metric.Kind != TokenKind.Name || metric.Text is "and" or "or" or "not" or "true" or "false")
            {
                throw Bad(text, $"expected a metric name at position {metric.Position + 1}, found '{metric.Text}'");
            }

            var op = Take("a comparison operator");
            if (op.Kind != TokenKind.Operator)
            {
                throw Bad(text, $"expected >=, <=, >, <, == or != after '{metric.Text}'");
            }

            var literal = Take("a value");
            object value = literal.Kind switch
            {
                TokenKind.Number when double.TryParse(literal.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out double number) => number,
                TokenKind.String => literal.Text,
                TokenKind.Name when literal.Text == "true" => true,
                TokenKind.Name when literal.Text == "false" => false,
                _ => throw Bad(text, $"expected a number, a quoted string, true or false after '{metric.Text} {op.Text}', found '{literal.Text}'"),
            };
            if (value is not double && op.Text is not ("==" or "!="))
            {
                throw Bad(text, $"only numbers can be compared with {op.Text}");
            }

            return new Comparison(metric.Text, op.Text, value);
        }

        private Token Take(string what)
        {
            var token = Peek ?? throw Bad(text, $"ends where {what} was expected");
            _next++;
            return token;
        }

        public void ExpectEnd()
        {
            if (Peek is { } extra)
            {
                throw Bad(text, $"unexpected '{extra.Text}' at position {extra.Position + 1}");
            }
        }
    }
}
