package controllers

// plural is word for one, word+"s" for any other count, for messages.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
