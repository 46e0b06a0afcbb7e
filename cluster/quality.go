package cluster

// Pairwise scores a clustering against the truth over pairs of items:
// precision is the share of pairs put together that belong together,
// recall the share of pairs that belong together that were put together.
// truth[i] and got[i] are item i's class and cluster; both have the same
// length. With no pair put together (or none belonging together) precision
// (or recall) is 1: nothing was claimed (or nothing could be missed).
func Pairwise(truth, got []int) (precision, recall float64) {
	type cell struct{ t, g int }
	cells := map[cell]int64{}
	classes := map[int]int64{}
	clusters := map[int]int64{}
	for i := range truth {
		cells[cell{truth[i], got[i]}]++
		classes[truth[i]]++
		clusters[got[i]]++
	}
	var both, same, together int64
	for _, n := range cells {
		both += n * (n - 1) / 2
	}
	for _, n := range classes {
		same += n * (n - 1) / 2
	}
	for _, n := range clusters {
		together += n * (n - 1) / 2
	}
	precision, recall = 1, 1
	if together > 0 {
		precision = float64(both) / float64(together)
	}
	if same > 0 {
		recall = float64(both) / float64(same)
	}
	return precision, recall
}
