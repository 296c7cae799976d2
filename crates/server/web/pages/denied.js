// The page is static.
