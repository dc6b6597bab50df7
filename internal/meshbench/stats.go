package meshbench

import (
	"slices"
	"time"
)

// Percentile returns the p-th percentile (nearest rank, 0 < p ≤ 100) of
// ds, or 0 if ds is empty. Percentile(ds, 50) is the median (the lower of the
// middle two for an even count).
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(p/100*float64(len(s)) + 0.999999) // ceil
	return s[min(max(rank, 1), len(s))-1]
}

// Ms converts d to milliseconds.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Us converts d to microseconds.
func Us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// Median returns the median of xs (the mean of the middle two for an even
// count), or 0 if xs is empty.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// MedianOf returns the median of f over xs (see Median): one figure of
// many results, such as the live heap of Memory readings.
func MedianOf[T any](xs []T, f func(T) float64) float64 {
	vs := make([]float64, len(xs))
	for i, x := range xs {
		vs[i] = f(x)
	}
	return Median(vs)
}
