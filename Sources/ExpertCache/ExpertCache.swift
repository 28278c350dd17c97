// ExpertCache module
